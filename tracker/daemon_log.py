"""Structured log lines on stderr (``ts=... level=info event=check target=x result=...``).

journald and container runtimes capture stderr and add their own metadata; one ``key=value``
line per event is easy to grep and to parse (logfmt). Library records without fields are
wrapped as ``event=log logger=... msg="..."`` so every line has the same shape.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_BARE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@+,")


def quote(value: object) -> str:
    """A logfmt value: bare when safe, else a JSON string (spaces, quotes, newlines escaped)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    text = str(value)
    if text and set(text) <= _BARE:
        return text
    return json.dumps(text, ensure_ascii=False)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one event with fields (the message is the event name, for plain handlers)."""
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={"fields": {"event": name, **fields}})


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        head = f"ts={ts.replace('+00:00', 'Z')} level={record.levelname.lower()}"
        fields = getattr(record, "fields", None)
        if fields is None:
            fields = {"event": "log", "logger": record.name, "msg": record.getMessage()}
        body = " ".join(f"{key}={quote(value)}" for key, value in fields.items())
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            body += f" error={quote(f'{type(exc).__name__}: {exc}')}"
            body += f" trace={quote(self.formatException(record.exc_info))}"
        return f"{head} {body}"


def setup_logging(verbose: bool = False) -> None:
    """Send tracker logs to stderr as logfmt; keep libraries quiet unless something is wrong."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("apscheduler", "httpx", "httpcore", "hpack", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.ERROR)
