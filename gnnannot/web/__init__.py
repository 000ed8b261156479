"""Interactive annotation in the browser (``gnnannot annotate``): a local Starlette app
(:mod:`gnnannot.web.app`) whose page shows the video with the masks of every frame, takes
foreground/background strokes and corrections, and exports with the ``gnnannot segment``
writers. :class:`WebSession` is the state behind it (no web framework needed)."""

from gnnannot.web.session import WebSession
from gnnannot.web.session_store import RequestError, SessionState, SessionStore

__all__ = ["RequestError", "SessionState", "SessionStore", "WebSession"]
