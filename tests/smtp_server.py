"""A real SMTP server on 127.0.0.1 (aiosmtpd) that captures messages for assertions.

The port is reserved up front, so a test can point the tracker at it *before* the server runs
(connection refused: "the SMTP server is down") and start it later on the same port.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class _Handler:
    sink: SmtpSink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.sink.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        with self.sink.lock:
            self.sink.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                               message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    """Captures every accepted message; optionally requires AUTH LOGIN/PLAIN."""

    port: int = field(default_factory=free_port)
    username: str | None = None
    password: str | None = None
    refuse: set[str] = field(default_factory=set)
    #: Implicit TLS (SMTPS) with this context, or STARTTLS offered with ``starttls``.
    ssl_context: ssl.SSLContext | None = None
    starttls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    def start(self) -> SmtpSink:
        kwargs: dict = {}
        if self.username is not None:
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False,
                      "auth_required": True}
        if self.ssl_context is not None:
            kwargs["ssl_context"] = self.ssl_context
        if self.starttls is not None:
            kwargs["tls_context"] = self.starttls
            kwargs["require_starttls"] = True
        with warnings.catch_warnings():  # "AUTH without TLS": deliberate, loopback only
            warnings.simplefilter("ignore")
            self._controller = Controller(_Handler(self), hostname="127.0.0.1",
                                          port=self.port, ready_timeout=10, **kwargs)
            self._controller.start()
        return self

    def _authenticate(self, server, session, envelope, mechanism, auth_data):  # type: ignore
        ok = isinstance(auth_data, LoginPassword) and \
            auth_data.login.decode() == self.username and \
            auth_data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least ``count`` messages arrived (or fail after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages within {timeout}s, got "
                             f"{len(self.received)}: {[m['Subject'] for m in self.messages]}")


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text/plain and text/html bodies of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (openssl CLI); returns (cert, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
