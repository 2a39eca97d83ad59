"""config.toml as it was last validated, for `tracker check` runs that find it unchanged.

A check from cron or a timer reads the same config.toml every time. Reading it in full costs
about a third of the start of a cycle of unchanged pages (0.1-0.15 s on 2 cores: importing
pydantic, building its validators, parsing a thousand targets' TOML and validating them),
and the answer is always the same. So once a config has been validated and the database's
target list agrees with it, its settings are saved as JSON in the user's cache directory,
under a key made of the file's bytes, its resolved path and the validating code. A later
check whose file has the same key reads the settings from there into :class:`ConfigView`,
a read-only stand-in with the same attributes and derived values as
:class:`tracker.config.Config`, and never imports pydantic or tomllib.

The target list is not in the snapshot: the database holds it. What the snapshot keeps is a
digest of the database's ``targets`` rows as they were when they agreed with the file; if
those rows have changed since (`tracker add`, `remove`, another config file on the same
database, a new database), the digests differ and the file is read and synced in full.

Anything unexpected (no cache directory, an unreadable or foreign snapshot) means no
snapshot: the file is read as usual. The cache never decides anything the file does not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config_base import ConfigPaths, EmailSettings

if TYPE_CHECKING:
    from .config import Config
    from .direct import Direct

log = logging.getLogger(__name__)

#: Bumped when what a snapshot holds changes shape.
FORMAT = 1
_SECTIONS = ("storage", "fetch", "wayback", "daemon", "email")
#: The code whose verdicts a snapshot stands for (validating the file, syncing its targets):
#: a change to any of them voids every snapshot.
_VALIDATORS = ("config.py", "config_base.py", "config_snapshot.py", "schedule.py",
               "target_sync.py", "target_spec.py")


class _Section:
    """Read-only attribute access to one validated section's values."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        if name == "_values":  # not set yet (copy, pickle): no recursion through the lookup
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no setting {name!r}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("settings read from a snapshot are read-only")

    def model_copy(self, update: dict[str, Any] | None = None) -> _Section:
        """A copy with some values replaced, as pydantic's ``model_copy`` makes one."""
        return type(self)({**self._values, **(update or {})})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._values!r})"


class _EmailSection(EmailSettings, _Section):
    __slots__ = ()


class ConfigView(ConfigPaths, _Section):
    """The settings of a validated config.toml, without its target list (the database's)."""

    __slots__ = ()

    @classmethod
    def of(cls, values: dict[str, Any], path: Path) -> ConfigView:
        sections = {name: (_EmailSection if name == "email" else _Section)(values[name])
                    for name in _SECTIONS}
        return cls({**sections, "targets": [], "base_dir": path.parent.resolve(),
                    "path": path})


def load(path: Path, raw: bytes) -> tuple[ConfigView, str] | None:
    """The snapshot of ``path`` (whose bytes are ``raw`` now) and its targets digest, if the
    file is as it was when the snapshot was saved."""
    location = _location(path)
    if location is None:
        return None
    try:
        saved = json.loads(location.read_text(encoding="utf-8"))
        if saved.get("key") != _key(path, raw):
            return None
        settings = saved["settings"]
        if not all(isinstance(settings[name], dict) for name in _SECTIONS):
            return None
        return ConfigView.of(settings, path), str(saved["targets"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # none yet, or not one of ours: the file is read in full


def save(config: Config, raw: bytes, db: Direct) -> None:
    """Remember ``config``, validated from the bytes ``raw``, for the next run.

    Call once the database agrees with the config's target list. The key is made of the
    bytes that were validated, not of the file read again: an edit saved in between must
    not be taken for what was checked.
    """
    path = config.path
    location = _location(path) if path is not None else None
    if path is None or location is None:
        return
    try:
        settings = {name: getattr(config, name).model_dump(mode="json") for name in _SECTIONS}
        document = json.dumps({"key": _key(path, raw), "settings": settings,
                               "targets": targets_digest(db)})
        location.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written whole, then renamed: a reader sees the old snapshot or the new one.
        fd, temporary = tempfile.mkstemp(dir=location.parent, prefix=".config-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp's mode: 0600
            out.write(document)
        os.replace(temporary, location)
    except OSError as exc:  # a read-only home, a full disk: the next run reads the file
        log.debug("config snapshot not saved: %s", exc)


def targets_digest(db: Direct) -> str:
    """A digest of every stored target's synced columns: equal digests, same target list."""
    rows = db.rows("SELECT id, name, origin, url, select_json, remove_json, schedule, "
                   "tags_json, recipients_json, source, enabled FROM targets ORDER BY id")
    return hashlib.sha256(repr(rows).encode("utf-8", "surrogatepass")).hexdigest()


def _key(path: Path, raw: bytes) -> str:
    digest = hashlib.sha256(f"{FORMAT}\0{path.resolve()}\0".encode("utf-8", "surrogatepass"))
    digest.update(raw)
    here = Path(__file__).parent
    for name in _VALIDATORS:
        digest.update(b"\0" + (here / name).read_bytes())
    return digest.hexdigest()


def _location(path: Path) -> Path | None:
    """Where the snapshot of ``path`` lives: ``$TRACKER_CACHE_DIR``, else the user's cache."""
    root = os.environ.get("TRACKER_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        home = os.environ.get("HOME")
        if xdg:
            root = os.path.join(xdg, "policy-tracker")
        elif home:
            root = os.path.join(home, ".cache", "policy-tracker")
        else:
            return None
    try:
        name = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()
    except OSError:
        return None
    return Path(root) / f"config-{name[:24]}.json"
