"""SMTP delivery with the standard library: STARTTLS, implicit TLS or plain, optional login.

Blocking on purpose (smtplib); the daemon runs it in a thread. Every failure becomes a
:class:`MailError` whose ``permanent`` flag tells the outbox whether retrying can help. The
password comes from the environment variable named by ``email.password_env`` and appears in
no message, log line or exception text produced here.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from contextlib import suppress
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TYPE_CHECKING

from ..config_base import ConfigError

if TYPE_CHECKING:
    from ..config import EmailConfig


class MailError(Exception):
    """A send that did not happen; ``permanent`` when the server refused it for good."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer:
    """One SMTP connection: :meth:`open`, :meth:`send` any number of times, :meth:`close`."""

    def __init__(self, settings: EmailConfig, context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.context = context or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        s = self.settings
        if not s.enabled:
            raise MailError("email is not configured (set [email] host)")
        where = f"{s.host}:{s.port}"
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                      context=self.context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            self._smtp = smtp
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise MailError(f"SMTP server {where} does not offer STARTTLS "
                                    "(set email.security = \"ssl\" or \"none\")")
                smtp.starttls(context=self.context)
                smtp.ehlo()
            if s.username:
                password = _password(s)
                smtp.login(s.username, password)
        except MailError:
            self.close()
            raise
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise MailError(f"SMTP login as {s.username!r} refused by {where}: "
                            f"{exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            self.close()
            raise MailError(f"cannot connect to SMTP server {where}: {_describe(exc)}") from None

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> dict[str, object]:
        """Send; returns the recipients the server refused (when it accepted others)."""
        if self._smtp is None:
            self.open()
        assert self._smtp is not None
        sender = parseaddr(str(message["From"]))[1] or str(message["From"])  # no display name
        try:
            refused = self._smtp.send_message(message, from_addr=sender,
                                              to_addrs=list(recipients))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise MailError(f"all recipients refused: {', '.join(sorted(exc.recipients))}",
                            permanent=all(500 <= c < 600 for c in codes)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise MailError(f"SMTP server refused the message: {exc.smtp_code} "
                            f"{_text(exc.smtp_error)}",
                            permanent=500 <= exc.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"sending failed: {_describe(exc)}") from None
        return dict(refused)

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        with suppress(Exception):
            smtp.quit()
        with suppress(Exception):
            smtp.close()


def _password(settings: EmailConfig) -> str:
    try:
        password = settings.password()
    except ConfigError as exc:
        raise MailError(str(exc)) from None
    if password is None:
        raise MailError("email.username is set but email.password_env is not")
    return password


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
