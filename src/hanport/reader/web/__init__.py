"""The reader's HTTP API (docs/CONTRACTS.md §4): FastAPI app, SSE live feed, health."""

from hanport.reader.web.app import ReaderContext, create_app

__all__ = ["ReaderContext", "create_app"]
