"""`tracker check` reads an unchanged config.toml from the snapshot of its last validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracker import config_snapshot, direct
from tracker.cli import Context
from tracker.config import Config, load_config
from tracker.config_snapshot import ConfigView
from tracker.shards import shard_config

SETTINGS = """\
[storage]
database = "sqlite:///data/t.db"
snapshots = "snaps"

[fetch]
timeout = 12.5
per_host_delay = 0
workers = 2

[email]
host = "smtp.test"
password_env = "TRACKER_TEST_SMTP_PASSWORD"
recipients = ["team@example.org"]
tags = { gdpr = ["dpo@example.org"] }

[[targets]]
name = "acme"
url = "http://127.0.0.1:9/privacy"
select = ["main"]

[[targets]]
name = "solo"
url = "http://127.0.0.1:9/terms"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    path = tmp_path / "config.toml"
    path.write_text(SETTINGS, encoding="utf-8")
    return path


def open_context(path: Path) -> Context:
    """A `tracker check`'s context, its store opened (which syncs the target list)."""
    context = Context(str(path), quick=True)
    _ = context.store
    return context


def enabled_names(context: Context) -> list[str]:
    with direct.connection(context.store) as db:
        return sorted(spec.name for spec in direct.enabled_targets(db))


def test_the_second_check_reads_the_snapshot_with_the_same_settings(config_file: Path,
                                                                     monkeypatch) -> None:
    first = open_context(config_file)
    assert isinstance(first.config, Config)  # read and validated in full
    first.close()
    second = open_context(config_file)
    view, full = second.config, load_config(config_file)
    assert isinstance(view, ConfigView)
    for section in ("storage", "fetch", "wayback", "daemon", "email"):
        for name, value in getattr(full, section).model_dump().items():
            assert getattr(getattr(view, section), name) == value, (section, name)
    assert view.database_url == full.database_url
    assert view.snapshots_dir == full.snapshots_dir
    assert view.base_dir == full.base_dir and view.path == full.path
    assert view.email.enabled and view.email.tags == {"gdpr": ["dpo@example.org"]}
    monkeypatch.setenv("TRACKER_TEST_SMTP_PASSWORD", "s3cret")
    assert view.email.password() == "s3cret"
    assert enabled_names(second) == ["acme", "solo"]
    # What a check does with its config works on the view as on the model.
    part = shard_config(second.config_without_targets(), 2)
    assert part.fetch.concurrency == full.fetch.concurrency // 2 and part.targets == []
    assert view.fetch.concurrency == full.fetch.concurrency  # copies, not changes
    with pytest.raises(AttributeError):
        view.fetch.timeout = 1.0
    second.close()


def test_a_byte_changed_in_the_file_reads_it_again(config_file: Path) -> None:
    open_context(config_file).close()
    config_file.write_text(SETTINGS.replace("timeout = 12.5", "timeout = 14"), encoding="utf-8")
    context = open_context(config_file)
    assert isinstance(context.config, Config) and context.config.fetch.timeout == 14
    context.close()
    again = open_context(config_file)  # and the snapshot is of the new file now
    assert isinstance(again.config, ConfigView) and again.config.fetch.timeout == 14
    again.close()


def test_a_target_list_changed_in_the_database_is_synced_again(config_file: Path) -> None:
    open_context(config_file).close()
    context = Context(str(config_file), quick=True)
    with direct.connection(context.store) as db, db.transaction(write=True):
        db.execute("UPDATE targets SET enabled = ? WHERE name = ?", [False, "solo"])
    context.close()
    again = open_context(config_file)  # the file still lists solo: the list is synced again
    assert isinstance(again.config, Config)
    assert enabled_names(again) == ["acme", "solo"]
    again.close()


def test_a_broken_or_foreign_snapshot_is_ignored(config_file: Path) -> None:
    open_context(config_file).close()
    saved = config_snapshot._location(config_file)
    assert saved is not None and saved.exists()
    for junk in ("{not json", json.dumps({"key": "someone else's", "settings": {}}),
                 json.dumps([1, 2, 3])):
        saved.write_text(junk, encoding="utf-8")
        context = open_context(config_file)
        assert isinstance(context.config, Config)
        assert enabled_names(context) == ["acme", "solo"]
        context.close()


def test_no_cache_directory_means_no_snapshot(config_file: Path, tmp_path: Path,
                                              monkeypatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go", encoding="utf-8")
    monkeypatch.setenv("TRACKER_CACHE_DIR", str(blocked))
    for _ in range(2):
        context = open_context(config_file)
        assert isinstance(context.config, Config)
        assert enabled_names(context) == ["acme", "solo"]
        context.close()


def test_the_snapshot_holds_no_password(config_file: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRACKER_TEST_SMTP_PASSWORD", "s3cret")
    open_context(config_file).close()
    saved = config_snapshot._location(config_file)
    assert saved is not None
    assert "s3cret" not in saved.read_text(encoding="utf-8")
    assert saved.stat().st_mode & 0o077 == 0  # the user's own, like the config's secrets


def test_other_commands_read_the_file(config_file: Path) -> None:
    open_context(config_file).close()
    context = Context(str(config_file))  # not a check: the daemon, status, ...
    assert isinstance(context.config, Config)
