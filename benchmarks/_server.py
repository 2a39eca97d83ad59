"""A fast static file server on 127.0.0.1 for benchmarks/check_cycle.py.

nginx (Debian: ``apt-get install -y nginx-light``) when it is installed, run in the foreground
(``daemon off``) with a config, logs and temp paths in a private folder, stopped by the
benchmark; otherwise a pre-forked Python server (one process per core) that sends the same
validators nginx does (ETag from mtime and size, Last-Modified) and answers conditional requests
with 304. Both serve files from ``root``, which the benchmark rewrites between cycles.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

NGINX_CONF = """\
worker_processes {workers};
daemon off;
master_process on;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    types {{ text/html html; }}
    default_type application/octet-stream;
    charset utf-8;
    etag on;
    open_file_cache off;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
    }}
}}
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on 127.0.0.1:{port} within {timeout}s")


class StaticServer:
    """``with StaticServer(root) as srv: srv.url(name)``; kind is "nginx" or "python"."""

    def __init__(self, root: Path, work: Path, kind: str = "auto", workers: int = 1) -> None:
        self.root, self.work, self.workers = root, work, workers
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                          else None)
        if kind == "auto":
            kind = "nginx" if nginx else "python"
        if kind == "nginx" and not nginx:
            raise RuntimeError("nginx is not installed (apt-get install -y nginx-light)")
        self.kind, self._nginx = kind, nginx
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> StaticServer:
        for attempt in range(5):  # the free port may be taken between probe and bind
            self.port = free_port()
            try:
                self._start()
                return self
            except RuntimeError:
                self._stop()
                if attempt == 4:
                    raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        if self.kind == "nginx":
            conf = self.work / "nginx.conf"
            conf.write_text(NGINX_CONF.format(workers=self.workers, work=self.work,
                                              port=self.port, root=self.root))
            # nginx workers drop to user "nobody" when started as root: let them read the pages.
            for path in (self.root, *self.root.parents):
                if str(path).startswith("/tmp/") and path != Path("/tmp"):
                    path.chmod(0o755)
            cmd = [self._nginx, "-p", str(self.work), "-c", str(conf), "-e",
                   str(self.work / "error.log")]
        else:
            cmd = [sys.executable, __file__, str(self.root), str(self.port), str(self.workers)]
        with open(self.work / "server.stderr", "wb") as stderr:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=stderr,
                                         start_new_session=True)
        _wait_listening(self.port, self.proc)

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # nginx: SIGQUIT is a graceful stop of master + workers; the Python server's parent
        # forwards SIGTERM to its workers. Both run in their own session (group = proc.pid).
        proc.send_signal(signal.SIGQUIT if self.kind == "nginx" else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


# --- the Python fallback server --------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = Path(".")

    def do_GET(self) -> None:  # noqa: N802
        name = self.path.split("?", 1)[0].lstrip("/")
        path = self.root / name
        if "/" in name or not name or not path.is_file():
            self._send(404, {"Content-Type": "text/plain"}, b"not found")
            return
        st = path.stat()
        etag = f'"{int(st.st_mtime):x}-{st.st_size:x}"'
        last_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        headers = {"Content-Type": "text/html; charset=utf-8", "ETag": etag,
                   "Last-Modified": last_modified}
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if (inm is not None and etag in [t.strip() for t in inm.split(",")]) or (
                inm is None and ims == last_modified):
            self._send(304, headers, b"")
            return
        self._send(200, headers, path.read_bytes())

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _serve(root: str, port: int, workers: int) -> None:
    """Pre-fork ``workers`` processes that accept on one listening socket (threads in each)."""
    from socketserver import ThreadingMixIn

    class Server(ThreadingMixIn, HTTPServer):
        daemon_threads = True
        request_queue_size = 512

    _Handler.root = Path(root)
    server = Server(("127.0.0.1", port), _Handler)
    children = []
    for _ in range(max(0, workers - 1)):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            server.serve_forever()
            os._exit(0)
        children.append(pid)

    def stop(*_: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
