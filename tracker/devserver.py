"""A small local web server for the offline demo: pages with rotating session tokens.

Each page is a template; every request gets fresh ``{{TOKEN}}`` values and the current
``{{YEAR}}``, the way real sites rotate session ids, cache busters and banner ids, so the demo
shows that none of that becomes a "change".
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default (5) drops concurrent connections into SYN retries


class DemoServer:
    """Serve ``pages`` (path -> HTML template) on 127.0.0.1 in a background thread."""

    def __init__(self, pages: dict[str, str], port: int = 0) -> None:
        self.pages = dict(pages)
        pages_ref = self.pages

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                template = pages_ref.get(self.path.split("?")[0])
                if template is None:
                    body, status = b"not found", 404
                else:
                    body = _fill(template).encode("utf-8")
                    status = 200
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = _Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> DemoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"


def _fill(template: str) -> str:
    text = template.replace("{{YEAR}}", str(datetime.now(UTC).year))
    while "{{TOKEN}}" in text:
        text = text.replace("{{TOKEN}}", secrets.token_hex(8), 1)
    return text
