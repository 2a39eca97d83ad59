"""Config loading: defaults, relative paths, and one clear line per mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracker.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.database_url == f"sqlite:///{tmp_path.resolve()}/tracker.db"
    assert config.snapshots_dir == tmp_path.resolve() / "snapshots"
    assert config.fetch.per_host_delay == 2.0
    assert config.wayback.cdx_rate == 0.4 and config.wayback.memento_rate == 8.0


def test_repository_config_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "config.toml")
    assert config.targets and all(t.url.startswith("https://") for t in config.targets)


def test_full_example(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[storage]
database = "sqlite:///data/t.db"
snapshots = "/srv/snaps"
[fetch]
timeout = 5
concurrency = 4
per_host_concurrency = 1
per_host_delay = 0.5
max_bytes = 1_000_000
user_agent = "x"
[[targets]]
name = "example-privacy"
url = "https://example.com/privacy"
select = ["main"]
remove = [".banner"]
schedule = "0 6 * * *"
tags = ["gdpr"]
"""))
    assert config.database_url.endswith("/data/t.db")
    assert config.snapshots_dir == Path("/srv/snaps")
    target = config.targets[0]
    assert (target.select, target.remove, target.schedule) == (["main"], [".banner"],
                                                                "0 6 * * *")


@pytest.mark.parametrize(("text", "message"), [
    ("[fetch]\ntimeout = 'abc'", "fetch.timeout: Input should be a valid number"),
    ("[fetch]\nper_host_dealy = 1", "fetch.per_host_dealy: unknown key"),
    ("[fetch]\nconcurrency = 0", "fetch.concurrency: Input should be greater than or equal to 1"),
    ("[[targets]]\nname = 'a'\nurl = 'ftp://x'", "targets[0] (a).url: not an http(s) URL"),
    ("[[targets]]\nname = 'a'", "targets[0] (a).url: required key is missing"),
    ("[[targets]]\nname = 'a'\nurl = 'https://a.test/'\nschedule = 'hourly'",
     "targets[0] (a).schedule: schedule 'hourly': use an interval"),
    ("[daemon]\nschedule = '61 * * * *'", "daemon.schedule: schedule '61 * * * *': bad cron"),
    ("[email]\nsecurity = 'tls'", "email.security: Input should be 'starttls', 'ssl' or 'none'"),
    ("[[targets]]\nname = 'a'\nurl = 'https://a.test/'\n[[targets]]\nname = 'a'\n"
     "url = 'https://b.test/'", "targets: duplicate target name 'a'"),
    ("[fetch\ntimeout = 1", "invalid TOML"),
    ("[[targets]]\nname = 'has space'\nurl = 'https://a.test/'", "targets[0] (has space).name"),
    ("[[targets]]\nname = 'a'\nurl = 'https://a.test/'\nselect = ['main', 'div >']",
     "targets[0] (a).select: invalid CSS selector 'div >'"),
    ("[[targets]]\nname = 'a'\nurl = 'https://a.test/'\nremove = ['<<<']",
     "targets[0] (a).remove: invalid CSS selector '<<<'"),
])
def test_errors_name_the_key_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_password_comes_from_the_environment(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, "[email]\nhost = 'smtp.test'\n"
                                         "password_env = 'TRACKER_TEST_PW'"))
    monkeypatch.delenv("TRACKER_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match="TRACKER_TEST_PW is not set"):
        config.email.password()
    monkeypatch.setenv("TRACKER_TEST_PW", "s3cret")
    assert config.email.password() == "s3cret"


def test_cron_weekdays_follow_standard_numbering() -> None:
    from datetime import UTC, datetime

    from tracker.schedule import parse_schedule

    saturday = datetime(2026, 11, 21, 12, tzinfo=UTC)
    sunday_job = parse_schedule("0 6 * * 0").trigger()
    assert sunday_job.get_next_fire_time(None, saturday).strftime("%A") == "Sunday"
    weekdays_job = parse_schedule("0 6 * * 1-5").trigger()
    assert weekdays_job.get_next_fire_time(None, saturday).strftime("%A") == "Monday"
    seventh = parse_schedule("30 5 * * 7").trigger()
    assert seventh.get_next_fire_time(None, saturday).strftime("%A") == "Sunday"


def test_the_sample_config_documents_every_key() -> None:
    """config.toml is the reference: each setting appears in it, set or commented out."""
    from tracker.config import (
        DaemonConfig,
        EmailConfig,
        FetchConfig,
        StorageConfig,
        TargetConfig,
        WaybackConfig,
    )

    sample = (Path(__file__).parent.parent / "config.toml").read_text(encoding="utf-8")
    keys = set(re.findall(r"^#? ?\[?\[?([a-z0-9_.]+)\]?\]?(?: =|$)", sample, re.MULTILINE))
    for model in (StorageConfig, FetchConfig, WaybackConfig, DaemonConfig, EmailConfig,
                  TargetConfig):
        missing = set(model.model_fields) - keys
        assert not missing, f"{model.__name__}: {sorted(missing)} not in config.toml"
