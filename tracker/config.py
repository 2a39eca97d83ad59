"""Load and validate ``config.toml``; every mistake becomes one line naming the key.

Pydantic models with ``extra="forbid"`` catch unknown keys (a typo like ``per_host_dealy`` must
not be silently ignored) and wrong types; :class:`ConfigError` carries a message such as
``config.toml: fetch.timeout: Input should be a valid number (got 'abc')``.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from .config_base import (
    DEFAULT_CONFIG_NAME,
    ConfigError,
    ConfigPaths,
    EmailSettings,
    config_path,
    read_config_file,
)
from .schedule import ScheduleError, parse_schedule

__all__ = ["DEFAULT_CONFIG_NAME", "Config", "ConfigError", "TargetConfig", "config_from_bytes",
           "config_path", "load_config", "parse_config"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class _Section(BaseModel):
    # No "inf" or "nan" in any number: a timeout of inf is a check that never ends.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class StorageConfig(_Section):
    database: str = "sqlite:///tracker.db"
    snapshots: Annotated[str, Field(min_length=1)] = "snapshots"
    #: Set when several machines share one PostgreSQL database: lets more than one daemon run.
    shared: bool = False

    @field_validator("shared")
    @classmethod
    def _shared(cls, value: bool, info: ValidationInfo) -> bool:
        if value and str(info.data.get("database", "")).startswith("sqlite"):
            raise ValueError("only for a PostgreSQL database shared by several machines; an "
                             "SQLite file takes one daemon")
        return value


class FetchConfig(_Section):
    timeout: Annotated[float, Field(gt=0)] = 30.0
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 16
    per_host_concurrency: Annotated[int, Field(ge=1, le=100)] = 1
    per_host_delay: Annotated[float, Field(ge=0)] = 2.0
    max_bytes: Annotated[int, Field(ge=1024)] = 10_000_000
    user_agent: str = "policy-tracker/0.1 (privacy policy change tracker)"
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff: Annotated[float, Field(ge=0)] = 1.0
    max_retry_after: Annotated[float, Field(ge=0)] = 120.0
    #: `tracker check` runs of many targets split into this many processes (tracker.shards;
    #: unset = one per core); the daemon parses in a pool of this size (0 = in-process).
    workers: Annotated[int | None, Field(ge=0, le=64)] = None

    @field_validator("user_agent")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.strip() or not value.isprintable():
            raise ValueError("must be one line of printable characters (it is sent as a header)")
        return value


class WaybackConfig(_Section):
    base_url: str = "https://web.archive.org"
    cdx_rate: Annotated[float, Field(gt=0, le=10)] = 0.4
    memento_rate: Annotated[float, Field(gt=0, le=100)] = 8.0
    pause_on_429: Annotated[float, Field(ge=0)] = 60.0
    closest_window_hours: Annotated[float, Field(gt=0)] = 24.0

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)


class DaemonConfig(_Section):
    schedule: str = "6h"
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.1  # fraction of the interval: start spread
    failure_threshold: Annotated[int, Field(ge=1)] = 3
    digest: str = "1d"  # "off" or a schedule for the digest of non-material changes
    shutdown_grace: Annotated[float, Field(ge=0)] = 20.0

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return _check_schedule(value)

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        return value if value == "off" else _check_schedule(value)


class EmailConfig(EmailSettings, _Section):
    host: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password_env: str = ""
    sender: str = ""
    recipients: list[str] = Field(default_factory=list)
    #: Extra recipients for targets carrying a tag: ``[email.tags] gdpr = ["dpo@example.org"]``.
    tags: dict[str, list[str]] = Field(default_factory=dict)
    timeout: Annotated[float, Field(gt=0)] = 30.0
    retry_max_interval: Annotated[float, Field(gt=0)] = 3600.0

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _check_addresses([value])[0] if value else value

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return _check_addresses(value)

    @field_validator("tags")
    @classmethod
    def _tag_recipients(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for addresses in value.values():
            _check_addresses(addresses)
        return value


class TargetConfig(_Section):
    name: str
    url: str
    select: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    schedule: str | None = None
    tags: list[str] = Field(default_factory=list)
    recipients: list[str] = Field(default_factory=list)
    source: Literal["live", "wayback"] = "live"
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("names use letters, digits, '.', '_' and '-' (at most 100)")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return None if value is None else _check_schedule(value)

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return _check_addresses(value)

    @field_validator("select", "remove")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        if value:
            from .normalize import NormalizeError, check_selector

            for selector in value:
                try:
                    check_selector(selector)
                except NormalizeError as exc:
                    raise ValueError(str(exc)) from None
        return value


class Config(ConfigPaths, _Section):
    storage: StorageConfig = Field(default_factory=StorageConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    wayback: WaybackConfig = Field(default_factory=WaybackConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    targets: list[TargetConfig] = Field(default_factory=list)

    #: The folder relative paths resolve against (the config file's folder).
    base_dir: Path = Field(default=Path("."), exclude=True)
    path: Path | None = Field(default=None, exclude=True)


def _check_http_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    try:
        port = parts.port
    except ValueError as exc:  # "Port out of range 0-65535", "Port could not be cast ..."
        raise ValueError(f"bad port in {value!r}: {exc}") from None
    if port == 0:
        raise ValueError(f"bad port in {value!r}: port 0")
    return value.strip()


def _check_addresses(values: list[str]) -> list[str]:
    """Each value an email address, bare or with a name (``Team <team@example.org>``)."""
    from email.utils import parseaddr

    for value in values:
        address = parseaddr(value)[1]
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain or any(c.isspace() for c in address):
            raise ValueError(f"not an email address: {value!r}")
    return values


def _check_schedule(value: str) -> str:
    try:
        parse_schedule(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return value


def load_config(path: Path, *, missing_ok: bool = False) -> Config:
    """Read and validate a config file; raise :class:`ConfigError` with one clear line."""
    return config_from_bytes(read_config_file(path, missing_ok=missing_ok), path)


def config_from_bytes(raw: bytes | None, path: Path) -> Config:
    """Validate the bytes read from ``path`` (None: no file, the built-in defaults)."""
    if raw is None:
        return Config(base_dir=path.parent.resolve(), path=path)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse_config(data, path)


def parse_config(data: dict, path: Path) -> Config:
    try:
        config = Config.model_validate({**data, "base_dir": path.parent.resolve(), "path": path})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc, data)}") from None
    counts = Counter(t.name for t in config.targets)  # one pass: configs run to thousands
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        raise ConfigError(f"{path}: targets: duplicate target name {duplicates[0]!r}")
    return config


def _describe(exc: ValidationError, data: dict) -> str:
    """The first validation error as ``key.path: problem (got value)``."""
    error = exc.errors()[0]
    location = list(error["loc"])
    parts: list[str] = []
    node: object = data
    for item in location:
        if isinstance(item, int):
            name = node[item].get("name") if isinstance(node, list) and item < len(node) \
                and isinstance(node[item], dict) else None
            parts[-1] = f"{parts[-1]}[{item}]" + (f" ({name})" if name else "") if parts \
                else f"[{item}]"
        else:
            parts.append(str(item))
        try:
            node = node[item]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            node = None
    key = ".".join(parts) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    if kind == "missing":
        return f"{key}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    if kind != "value_error" and got is not None and not isinstance(got, dict | list):
        return f"{key}: {message} (got {got!r})"
    return f"{key}: {message}"
