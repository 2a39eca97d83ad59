"""A real HTTP server on 127.0.0.1 for tests: routes are plain Python callables.

Each route receives a :class:`Request` and returns ``(status, headers, body)``; tests change
what a route serves between checks to simulate a page that changes. The server runs in a
daemon thread and is shut down by the fixture that started it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHTTPServer(ThreadingHTTPServer):
    """The tests' threaded HTTP server (this one and tests.fake_wayback's)."""

    request_queue_size = 256  # the default (5) drops concurrent connections into SYN retries

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-body (a page over the size cap) is no server error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


Response = tuple[int, dict[str, str], bytes]
Handler = Callable[[Request], Response]


@dataclass
class PageServer:
    """Serve ``routes`` (path -> handler) on an ephemeral loopback port."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def start(self) -> PageServer:
        server_self = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                request = Request("GET", self.path, {k.lower(): v for k, v in self.headers.items()})
                server_self.requests.append(request)
                handler = server_self.routes.get(self.path.split("?")[0])
                if handler is None:
                    status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
                else:
                    status, headers, body = handler(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "content-length" not in {k.lower() for k in headers}:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = LocalHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def html(self, path: str, body: str, status: int = 200,
             headers: dict[str, str] | None = None) -> None:
        """Serve a fixed HTML body at ``path`` (replacing what was there)."""
        data = body.encode("utf-8")
        all_headers = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
        self.routes[path] = lambda _request: (status, all_headers, data)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
