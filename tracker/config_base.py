"""What the configuration is, apart from how config.toml is validated: no pydantic here.

:mod:`tracker.config` validates config.toml with pydantic models; :mod:`tracker.config_snapshot`
serves the same settings from a snapshot without importing pydantic (a tenth of a second of
every `tracker check`). Both kinds of object get their derived values (paths resolved against
the config's folder, the SMTP password from the environment) from the mixins here, so the two
can never disagree about them.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CONFIG_NAME = "config.toml"


class ConfigError(Exception):
    """A user-facing configuration problem (printed as one line, exit status 2)."""


def config_path(explicit: str | Path | None) -> Path:
    """``--config``, else ``$TRACKER_CONFIG``, else ``./config.toml``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("TRACKER_CONFIG")
    return Path(env).expanduser() if env else Path(DEFAULT_CONFIG_NAME)


def read_config_file(path: Path, *, missing_ok: bool = False) -> bytes | None:
    """The file's bytes; None for a missing file when ``missing_ok`` (defaults apply then)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ConfigError(f"{path}: config file not found (use --config PATH or "
                          "set TRACKER_CONFIG)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None


class ConfigPaths:
    """Derived values of a whole configuration (from its ``storage`` and ``base_dir``).

    No annotations here: pydantic would read them as fields of the models that mix this in.
    """

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against ``base_dir``."""
        url: str = self.storage.database  # type: ignore[attr-defined]
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") \
                and url != "sqlite:///:memory:":
            return prefix + str((self.base_dir / url[len(prefix):]).resolve())
        return url

    @property
    def snapshots_dir(self) -> Path:
        path = Path(self.storage.snapshots).expanduser()  # type: ignore[attr-defined]
        return path if path.is_absolute() else (self.base_dir / path).resolve()


class EmailSettings:
    """Derived values of the ``[email]`` section (from its ``host`` and ``password_env``)."""

    @property
    def enabled(self) -> bool:
        return bool(self.host)  # type: ignore[attr-defined]

    def password(self) -> str | None:
        """The SMTP password, from the environment only (never written to config or logs)."""
        name: str = self.password_env  # type: ignore[attr-defined]
        if not name:
            return None
        value = os.environ.get(name)
        if value is None:
            raise ConfigError(f"email.password_env: environment variable {name} is not set")
        return value
