"""The reader's HTTP API (docs/CONTRACTS.md §4) and the app serving it with the dashboard."""

from hanport.reader.api import ReaderContext
from hanport.reader.web.app import create_app

__all__ = ["ReaderContext", "create_app"]
