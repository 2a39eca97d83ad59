"""`tracker accept`: a quarantined capture a person confirmed becomes a version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from tests.pageserver import PageServer
from tests.test_cli import run
from tracker.accept import accept_capture
from tracker.check import run_checks
from tracker.config import parse_config
from tracker.models import Alert, Change, FetchState, Snapshot, Version
from tracker.store import Store
from tracker.targets import TargetError, enabled_targets, sync_config_targets

LONG = " ".join(f"Clause {i}: we describe how personal information is handled and retained."
                for i in range(40))
SHORT = " ".join(f"Short clause {i} about data handling." for i in range(12))


def long_policy() -> str:
    return (f"<html><body><main><h1>Privacy</h1><p>Last updated: May 1, 2024</p>"
            f"<p>We keep server logs for 12 months.</p><p>{LONG}</p></main></body></html>")


def short_policy() -> str:
    return (f"<html><body><main><h1>Privacy</h1><p>Last updated: June 1, 2025</p>"
            f"<p>We keep server logs for 30 days.</p><p>{SHORT}</p></main></body></html>")


class Watched:
    """One target on the local server, checked through the real pipeline."""

    def __init__(self, tmp_path: Path, server: PageServer) -> None:
        self.server = server
        self.config = parse_config({
            "fetch": {"per_host_delay": 0, "timeout": 5, "retries": 0},
            "email": {"host": "127.0.0.1", "port": 25, "security": "none",
                      "recipients": ["team@example.org"]},
            "targets": [{"name": "acme", "url": server.url("/p")}],
        }, tmp_path / "config.toml")
        self.store = Store.open(self.config)
        with self.store.session() as session:
            sync_config_targets(session, self.config)

    def check(self, html: str, status: int = 200) -> str:
        self.server.html("/p", html, status=status)
        with self.store.session() as session:
            specs = enabled_targets(session)
        (outcome,) = run_checks(self.config, self.store, specs)
        return outcome.result

    def rows(self, model) -> list:
        with self.store.session() as session:
            return list(session.exec(select(model)))


@pytest.fixture
def watched(tmp_path: Path, page_server: PageServer) -> Watched:
    return Watched(tmp_path, page_server)


def test_a_much_shorter_policy_stays_quarantined_until_accepted(watched: Watched) -> None:
    assert watched.check(long_policy()) == "first_version"
    assert [watched.check(short_policy()) for _ in range(2)] == ["quarantined"] * 2

    preview = accept_capture(watched.config, watched.store, "acme", preview=True)
    assert preview.reason is not None and preview.reason.startswith("length collapse")
    assert preview.version_id is None and len(watched.rows(Version)) == 1

    done = accept_capture(watched.config, watched.store, "acme")
    assert done.snapshot_id == preview.snapshot_id and done.version_id is not None
    # A person vouched for the capture: the change is read for its meaning, not called
    # "suspect", and it is alerted like any other material change.
    (change,) = watched.rows(Change)
    assert change.material and not change.suspect
    assert "retention" in change.summary and change.alert_state == "queued"
    assert [a.kind for a in watched.rows(Alert)] == ["change"]
    snapshot = [s for s in watched.rows(Snapshot) if s.id == done.snapshot_id][0]
    assert snapshot.quality == "ok"
    assert snapshot.quality_reason.startswith("accepted by hand; quarantined for: length")

    assert watched.check(short_policy()) == "unchanged"  # and tracking has recovered
    (state,) = watched.rows(FetchState)
    assert state.consecutive_failures == 0


def test_accept_takes_only_captures_since_the_latest_version_unless_named(
        watched: Watched) -> None:
    watched.check(long_policy())
    watched.check(short_policy())
    accept_capture(watched.config, watched.store, "acme")
    with pytest.raises(TargetError, match="no quarantined capture since its latest version"):
        accept_capture(watched.config, watched.store, "acme")


def test_what_cannot_be_accepted(watched: Watched) -> None:
    watched.check(long_policy())
    assert watched.check("<h1>Internal error</h1>", status=500) == "quarantined"
    (error,) = [s for s in watched.rows(Snapshot) if s.quality == "suspect"]
    with pytest.raises(TargetError, match="was an HTTP 500 answer"):
        accept_capture(watched.config, watched.store, "acme")
    first = watched.rows(Version)[0]
    with pytest.raises(TargetError, match="is not quarantined"):
        accept_capture(watched.config, watched.store, "acme", first.snapshot_id)
    with pytest.raises(TargetError, match="has no capture #999"):
        accept_capture(watched.config, watched.store, "acme", 999)
    assert error.id is not None and len(watched.rows(Version)) == 1


def test_the_command_previews_then_records(tmp_path: Path, page_server: PageServer) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[fetch]\nper_host_delay = 0\ntimeout = 5\nretries = 0\n")
    page_server.html("/p", long_policy())
    run("add", "acme", page_server.url("/p"), config=config)
    run("check", "acme", config=config)
    page_server.html("/p", short_policy())
    assert "quarantined" in run("check", "acme", config=config).stdout
    preview = run("accept", "acme", "--preview", config=config).stdout
    assert "quarantined for: length collapse" in preview and "would record it" in preview
    assert "material: retention" in preview
    assert "We keep server logs for 30 days." in preview  # the text itself, to be checked
    assert "record it: tracker accept acme --capture " in preview
    exported = json.loads(run("export", "acme", config=config).stdout)
    (failure,) = exported["failures"]
    shown = run("show", "acme", "--capture", str(failure["capture"]), config=config).stdout
    assert "We keep server logs for 30 days." in shown  # the quarantined capture, read now
    recorded = run("accept", "acme", config=config).stdout
    assert "recorded as version 2" in recorded
    again = run("accept", "acme", config=config, check=False)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.startswith("error: acme has no quarantined capture")


def test_an_older_capture_accepted_between_two_versions(watched: Watched) -> None:
    watched.check(long_policy())
    assert watched.check(short_policy()) == "quarantined"
    (quarantined,) = [s for s in watched.rows(Snapshot) if s.quality == "suspect"]
    assert watched.check(long_policy().replace("12 months", "24 months")) == "new_version"
    assert [a.kind for a in watched.rows(Alert)] == ["change"]  # the later change was mailed
    done = accept_capture(watched.config, watched.store, "acme", quarantined.id)
    assert done.version_id is not None
    versions = sorted(watched.rows(Version), key=lambda v: v.captured_at)
    assert [v.id for v in versions][1] == done.version_id  # in capture order
    changes = {(c.from_version_id, c.to_version_id): c for c in watched.rows(Change)}
    assert set(changes) == {(versions[0].id, versions[1].id), (versions[1].id, versions[2].id)}
    # The later change was recomputed from the accepted version and is not alerted again;
    # its earlier alert stays in the outbox's history, detached from the deleted change.
    assert changes[(versions[1].id, versions[2].id)].alert_state == "suppressed"
    earlier, accepted = sorted(watched.rows(Alert), key=lambda a: a.id)
    assert earlier.change_id is None
    assert accepted.change_id == changes[(versions[0].id, versions[1].id)].id


def test_a_short_policy_losing_most_of_its_text_is_quarantined_not_recorded(
        watched: Watched) -> None:
    # Under the quality gate's length test (which needs 300 words before): the comparison
    # still sees that most of the text is gone, and a capture like that is not a version.
    medium = long_policy().replace(LONG, " ".join(LONG.split()[:200]))
    assert watched.check(medium) == "first_version"
    assert watched.check(short_policy()) == "quarantined"
    (state,) = watched.rows(FetchState)
    assert (state.last_error or "").startswith("suspect capture: most of the text is gone")
    assert len(watched.rows(Version)) == 1 and watched.rows(Change) == []
    done = accept_capture(watched.config, watched.store, "acme")  # a person says it is real
    (change,) = watched.rows(Change)
    assert done.version_id is not None and change.material and not change.suspect
