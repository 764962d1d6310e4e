"""An HTTP server for the project in a background thread, for the demo and tests."""

import threading

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:
        # Requests are visible through the runs they create; the access log
        # would drown the demo's output.
        return


class BackgroundServer:
    """Serve the WSGI application on ``host:port`` (0 picks a free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadedWSGIServer(
            (host, port), _QuietHandler, allow_reuse_address=True
        )
        # WSGIHandler directly, not alloy.wsgi: that module calls django.setup()
        # again, which reconfigures logging over the caller's log level. The
        # static files handler serves the builder's stylesheet and script.
        self._server.set_app(StaticFilesHandler(WSGIHandler()))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="alloy-http", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "BackgroundServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
