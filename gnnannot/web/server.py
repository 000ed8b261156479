"""Run the web app with uvicorn on a local socket: in the foreground (the CLI) or in a
background thread (tests, notebooks)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

from gnnannot.errors import ConfigError

__all__ = ["BackgroundServer", "bind", "serve"]

HOST = "127.0.0.1"


def bind(port: int, host: str = HOST) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free port); ConfigError if
    the port is taken or not allowed."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, found {port}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port "
            "(0 = any free port)"
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://host:port/`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}/"


def _server(app: Any, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(app: Any, sock: socket.socket, log_level: str = "warning") -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl+C)."""
    _server(app, log_level).run(sockets=[sock])


class BackgroundServer:
    """``with BackgroundServer(app) as srv: ... srv.url ...``: serve ``app`` on a free
    local port in a daemon thread; stopped on exit."""

    def __init__(self, app: Any, port: int = 0, log_level: str = "warning") -> None:
        self.sock = bind(port)
        self.url = url_of(self.sock)
        self._server = _server(app, log_level)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]},
                                        daemon=True, name="gnnannot-web")  # fmt: skip

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.sock.close()
