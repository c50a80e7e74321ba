"""The reader's web dashboard: server-rendered pages that read the reader's own HTTP API.

`install(app)` adds the pages (`/`, `/today`, `/history`, `/health`) and the static files to
the reader's FastAPI app. The pages fetch everything they show from `/api/...` in the browser
(live values over the SSE feed `/api/live`), so the dashboard depends on nothing but the API.
"""

from __future__ import annotations

from hanport.reader.dashboard.routes import install

__all__ = ["install"]
