"""The ASGI app (Starlette) of ``gnnannot annotate``: one static page and a small JSON API
over a :class:`gnnannot.web.session.WebSession`.

API (all JSON unless noted; errors are ``{"error": message, "field": name}`` with a 4xx
status: 400 malformed body, 404 unknown frame/object/download, 409 not possible now
(nothing to undo/export), 413 body too large, 415 not JSON, 422 invalid strokes)::

    GET    /api/session                    session description (objects, interactions, ...)
    GET    /api/frames/{t}?overlay=1&height=H&hide=1,3   frame t as JPEG (masks blended
                                           in, in the objects' colours, listed ids hidden)
    GET    /api/masks/{t}                  frame t's mask: palette PNG of object ids
    GET    /api/frames/{t}/strokes         submitted strokes on frame t
    POST   /api/interactions               {"strokes": [{"frame", "object_id", "path"}]}
    POST   /api/undo | /api/reset          drop the last / every interaction
    POST   /api/objects                    add an object
    PATCH  /api/objects/{k}                {"name"?, "colour"?: [r, g, b]} of object k
    DELETE /api/objects/{k}                remove object k and its strokes
    POST   /api/export                     {"overlay": bool, "rle": bool} -> writes --out
    GET    /api/download/{name}            masks.zip | rle.zip | overlay.mp4 of the export

Changing requests return ``{"session": ..., "seconds": s}``. Only requests addressed to the
local host are served (DNS-rebinding guard) and POST bodies must be ``application/json``
(a cross-site form cannot send that without a CORS preflight, which this app refuses),
and a changing request whose ``Origin`` names another site is refused (403). Bodies are
limited to ``MAX_BODY_BYTES`` while they stream in (413) and JSON deeper than
``MAX_JSON_DEPTH`` levels is refused (400).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gnnannot.errors import GnnAnnotError
from gnnannot.web.session import WebSession
from gnnannot.web.session_store import RequestError

__all__ = ["LOCAL_HOSTS", "MAX_BODY_BYTES", "MAX_JSON_DEPTH", "STATIC_DIR", "create_app",
           "origin_allowed"]

STATIC_DIR = Path(__file__).parent / "static"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 32
CHANGING_METHODS = ("POST", "PUT", "PATCH", "DELETE")
THUMB_MAX_HEIGHT = 480

Handler = Callable[[Request], Awaitable[Response]]


async def _read_limited(request: Request, limit: int) -> bytes:
    """The request body, read while streaming; RequestError 413 as soon as it passes
    ``limit`` bytes (a chunked body with no Content-Length is never held whole)."""
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > limit:
        raise RequestError(f"body of {size} bytes, at most {limit}", "body", 413)
    parts: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise RequestError(f"body of more than {limit} bytes", "body", 413)
        parts.append(chunk)
    return b"".join(parts)


def _json_depth(obj: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value (iterative; stops counting past ``limit``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children)
    return deepest


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; RequestError (400/413/415) otherwise."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise RequestError(f"expected application/json, found {ctype or 'none'!r}",
                           "Content-Type", 415)  # fmt: skip
    raw = await _read_limited(request, MAX_BODY_BYTES)
    try:
        body = json.loads(raw or b"{}")
    except RecursionError as exc:
        raise RequestError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "body",
                           400) from exc  # fmt: skip
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"not valid JSON ({exc})", "body", 400) from exc
    if _json_depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise RequestError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "body", 400)
    if not isinstance(body, dict):
        raise RequestError(f"expected a JSON object, found {type(body).__name__}", "body", 400)
    return body


def origin_allowed(origin: str | None, host: str | None, allowed_hosts: Sequence[str]) -> bool:
    """Whether a request's ``Origin`` header permits a state-changing request: absent
    (not a browser page of another site), or the same origin as the request's ``Host``
    (scheme http/https, same host and port) with an allowed host name."""
    if origin is None:
        return True
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and parts.hostname in allowed_hosts
        and host is not None
        and parts.netloc.lower() == host.strip().lower()
    )


class OriginGuard:
    """ASGI middleware: refuse (403) POST/PUT/PATCH/DELETE requests whose ``Origin``
    header names another site (cross-site requests; ``Origin: null`` too)."""

    def __init__(self, app: Any, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in CHANGING_METHODS:
            headers = {k: v.decode("latin-1") for k, v in scope.get("headers", [])}
            origin = headers.get(b"origin")
            if not origin_allowed(origin, headers.get(b"host"), self.allowed_hosts):
                resp = JSONResponse({"error": f"cross-site request from origin {origin!r} "
                                     "refused", "field": "Origin"}, status_code=403)  # fmt: skip
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _flag(request: Request, name: str, default: bool) -> bool:
    v = request.query_params.get(name)
    if v is None:
        return default
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    raise RequestError(f"expected 0 or 1, found {v!r}", name, 400)


def _ids(request: Request, name: str) -> tuple[int, ...]:
    """Comma-separated object ids of query parameter ``name`` (empty: none)."""
    v = request.query_params.get(name, "").strip()
    if not v:
        return ()
    parts = [p.strip() for p in v.split(",")]
    if not all(p.isdigit() and 1 <= int(p) <= 255 for p in parts):
        raise RequestError(f"expected comma-separated object ids 1..255, found {v!r}", name, 400)
    return tuple(int(p) for p in parts)


def _bool_field(body: dict[str, Any], name: str, default: bool) -> bool:
    v = body.get(name, default)
    if not isinstance(v, bool):
        raise RequestError(f"expected true or false, found {v!r}", name, 422)
    return v


def create_app(session: WebSession, allowed_hosts: Sequence[str] = LOCAL_HOSTS) -> Starlette:
    """The Starlette app serving ``session`` (``allowed_hosts``: Host header names
    accepted, e.g. add ``"testserver"`` for Starlette's TestClient)."""

    def changed(seconds: float | None) -> JSONResponse:
        return JSONResponse({"session": session.info(seconds), "seconds": seconds})

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def get_session(request: Request) -> Response:
        return JSONResponse(session.info())

    async def get_frame(request: Request) -> Response:
        overlay = _flag(request, "overlay", True)
        h = request.query_params.get("height")
        height = None
        if h is not None:
            if not h.isdigit() or not 8 <= int(h) <= THUMB_MAX_HEIGHT:
                raise RequestError(f"expected an integer in 8..{THUMB_MAX_HEIGHT}, found {h!r}",
                                   "height", 400)  # fmt: skip
            height = int(h)
        hidden = _ids(request, "hide")
        data = await run_in_threadpool(session.frame_jpeg, request.path_params["t"], overlay,
                                       height, hidden)  # fmt: skip
        cache = "no-store" if overlay else "private, max-age=3600"
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": cache})

    async def get_mask(request: Request) -> Response:
        data = await run_in_threadpool(session.mask_png, request.path_params["t"])
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def patch_object(request: Request) -> Response:
        body = await _json_body(request)
        await run_in_threadpool(session.update_object, request.path_params["k"], body)
        return JSONResponse({"session": session.info()})

    async def get_strokes(request: Request) -> Response:
        return JSONResponse({"strokes": session.strokes_on(request.path_params["t"])})

    async def post_interaction(request: Request) -> Response:
        body = await _json_body(request)
        if "strokes" not in body:
            raise RequestError("missing key 'strokes' (a list of strokes)", "strokes", 422)
        seconds = await run_in_threadpool(session.interact, body["strokes"])
        return changed(seconds)

    async def post_undo(request: Request) -> Response:
        await _json_body(request)
        return changed(await run_in_threadpool(session.undo))

    async def post_reset(request: Request) -> Response:
        await _json_body(request)
        return changed(await run_in_threadpool(session.reset))

    async def post_object(request: Request) -> Response:
        await _json_body(request)
        new = await run_in_threadpool(session.add_object)
        return JSONResponse({"session": session.info(), "object_id": new})

    async def delete_object(request: Request) -> Response:
        seconds = await run_in_threadpool(session.remove_object, request.path_params["k"])
        return changed(seconds)

    async def post_export(request: Request) -> Response:
        body = await _json_body(request)
        overlay = _bool_field(body, "overlay", True)
        rle = _bool_field(body, "rle", True)
        res = await run_in_threadpool(session.export, overlay, rle)
        res["downloads"] = [{"name": n, "url": f"/api/download/{n}"} for n in res["downloads"]]
        return JSONResponse(res)

    async def get_download(request: Request) -> Response:
        name = request.path_params["name"]
        content, media = await run_in_threadpool(session.download, name)
        headers = {"Cache-Control": "no-store"}
        if isinstance(content, Path):
            return FileResponse(content, media_type=media, filename=name, headers=headers)
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(content, media_type=media, headers=headers)

    async def request_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestError)
        return JSONResponse({"error": exc.detail, "field": exc.field}, status_code=exc.status)

    async def user_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc), "field": ""}, status_code=422)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        msg = exc.detail
        if exc.status_code == 404:
            msg = f"no such page or API endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            msg = f"method {request.method} is not allowed on {request.url.path}"
        return JSONResponse({"error": msg, "field": ""}, status_code=exc.status_code,
                            headers=exc.headers)  # fmt: skip

    async def server_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}",
                             "field": ""}, status_code=500)  # fmt: skip

    routes = [
        Route("/", index),
        Route("/api/session", get_session),
        Route("/api/frames/{t}", get_frame),
        Route("/api/frames/{t}/strokes", get_strokes),
        Route("/api/masks/{t}", get_mask),
        Route("/api/interactions", post_interaction, methods=["POST"]),
        Route("/api/undo", post_undo, methods=["POST"]),
        Route("/api/reset", post_reset, methods=["POST"]),
        Route("/api/objects", post_object, methods=["POST"]),
        Route("/api/objects/{k}", delete_object, methods=["DELETE"]),
        Route("/api/objects/{k}", patch_object, methods=["PATCH"]),
        Route("/api/export", post_export, methods=["POST"]),
        Route("/api/download/{name}", get_download),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
                    Middleware(OriginGuard, allowed_hosts=list(allowed_hosts))],
        exception_handlers={
            RequestError: request_error,
            GnnAnnotError: user_error,
            HTTPException: http_error,
            Exception: server_error,
        },
    )
