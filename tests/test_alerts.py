"""Alert rules and composition: what gets queued, for whom, and what the mail says.

Changes come from the real pipeline (Checker against the local page server) or, where the
semantic comparison is beside the point, from rows inserted with a hand-written comparison.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from tests.pageserver import PageServer
from tests.smtp_server import SmtpSink, parts
from tracker.alerts.compose import ChangeItem, TargetInfo, compose_change
from tracker.alerts.digest import queue_digest
from tracker.alerts.outbox import send_due
from tracker.alerts.recipients import resolve_recipients
from tracker.alerts.rules import on_check_outcome
from tracker.check import CheckOutcome, run_checks
from tracker.config import Config, EmailConfig, parse_config
from tracker.models import Alert, Change, FetchState, Snapshot, Target, Version
from tracker.store import Store
from tracker.targets import TargetSpec, enabled_targets, fetch_state, sync_config_targets

SELL = "We do not sell your personal information."
MAY_SELL = "We may sell your personal information."
SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"  # page text that reads "<script>..."


def policy_page(months: int = 12, sell: str = SELL, extra: str = "",
                updated: str = "May 24, 2018") -> str:
    """A small but realistic privacy policy; the arguments are the clauses tests change."""
    return f"""<!doctype html><html><head><title>Acme Privacy Policy</title></head><body>
<nav><a href="/">Home</a></nav><main>
<h1>Acme Privacy Policy</h1><p>Last updated: {updated}</p>
<h2>Information we collect</h2><p>We collect your name, email address and usage data when
you use our services and when you contact our support team.</p>
<h2>How long we keep data</h2><p>We retain server logs for {months} months after collection,
then delete them.</p>
<h2>Sharing</h2><p>{sell} We share data with service providers who process it on our
behalf.</p>
<h2>Contact</h2><p>Write to privacy@acme.example with any question about this policy.
{extra}</p></main></body></html>"""


CHALLENGE = """<!doctype html><html><head><title>Just a moment...</title></head><body>
<div id="challenge-running">Checking if the site connection is secure</div>
<script>window._cf_chl_opt = {}</script></body></html>"""


def make_config(tmp_path: Path, targets: list[dict], email: dict | None = None,
                daemon: dict | None = None) -> Config:
    data: dict = {"storage": {"database": "sqlite:///tracker.db", "snapshots": "snapshots"},
                  "fetch": {"per_host_delay": 0, "retries": 0, "timeout": 5},
                  "daemon": daemon or {}, "targets": targets}
    if email:
        data["email"] = email
    return parse_config(data, tmp_path / "config.toml")


def _open(config: Config) -> tuple[Store, list[TargetSpec]]:
    store = Store.open(config)
    with store.session() as session:
        sync_config_targets(session, config)
        specs = enabled_targets(session)
    return store, specs


def _alerts(store: Store) -> list[Alert]:
    with Session(store.engine) as session:
        return list(session.exec(select(Alert).order_by(Alert.id)))


# --- recipients ----------------------------------------------------------------------------

def test_recipients_target_then_tags_then_default_deduplicated() -> None:
    email = EmailConfig(host="x", recipients=["team@example.org", "DPO@example.org"],
                        tags={"gdpr": ["dpo@example.org", "legal@example.org"],
                              "other": ["nobody@example.org"]})
    got = resolve_recipients(email, ["owner@example.org", "team@example.org"], ["gdpr"])
    assert got == ["owner@example.org", "team@example.org", "dpo@example.org",
                   "legal@example.org"]
    assert resolve_recipients(EmailConfig()) == []


# --- a material change, end to end ---------------------------------------------------------

def test_material_change_is_queued_and_mailed_with_quoted_clauses(
        tmp_path: Path, page_server: PageServer, smtp: SmtpSink) -> None:
    page_server.html("/privacy", policy_page())
    config = make_config(
        tmp_path,
        [{"name": "acme-privacy", "url": page_server.url("/privacy"), "tags": ["gdpr"],
          "recipients": ["owner@example.org"]}],
        email={"host": "127.0.0.1", "port": smtp.port, "security": "none",
               "sender": "tracker@example.org", "recipients": ["team@example.org"],
               "tags": {"gdpr": ["dpo@example.org", "team@example.org"]}})
    store, specs = _open(config)
    assert [o.result for o in run_checks(config, store, specs)] == ["first_version"]
    assert _alerts(store) == []  # a first version is not a change

    page_server.html("/privacy", policy_page(24, MAY_SELL, extra=SCRIPT))
    [outcome] = run_checks(config, store, specs)
    assert outcome.result == "new_version" and outcome.material
    [alert] = _alerts(store)
    assert alert.kind == "change" and alert.dedup_key == f"change:{outcome.change_id}"
    assert alert.status == "pending"
    with Session(store.engine) as session:
        change = session.get(Change, outcome.change_id)
        assert change is not None and change.alert_state == "queued"

    summary = send_due(store, config)
    assert summary.sent == [alert.id]
    [received] = smtp.received
    assert sorted(received.rcpt_tos) == ["dpo@example.org", "owner@example.org",
                                         "team@example.org"]
    message = received.message
    categories = [c for c in json.loads(change.categories_json) if c != "effective_date"]
    assert {"retention", "sharing"} <= set(categories)
    assert message["Subject"] == f"[policy change] acme-privacy: {', '.join(categories)}"
    assert message["From"] == "tracker@example.org"
    text, html = parts(message)
    # Findings lead, quoting the old and the new clause.
    assert text.index("Material findings") < text.index("Changes:") < text.index("See more")
    assert '"We retain server logs for 12 months after collection, then delete them."' in text
    assert '"We retain server logs for 24 months after collection, then delete them."' in text
    assert '"We do not sell your personal information."' in text
    assert '"We may sell your personal information."' in text
    assert "[-12-]{+24+}" in text
    assert f"tracker diff acme-privacy {change.from_version_id} {change.to_version_id}" in text
    assert page_server.url("/privacy") in text
    # HTML: inline styles, the same findings, page text escaped.
    assert "style=" in html and "<style" not in html
    assert "We retain server logs for 24 months" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "<script>alert(1)</script>" in text  # plain text shows the page text as it is
    with Session(store.engine) as session:
        sent = session.get(Alert, alert.id)
        assert sent is not None and sent.status == "sent" and sent.sent_at is not None


def test_compose_escapes_clauses_and_caps_blocks(tmp_path: Path) -> None:
    comparison = {"material": True, "noise_only": False, "categories": ["children"],
                  "effective_date": {"old": "2018-05-24", "new": "2020-01-03"},
                  "findings": [{"category": "children", "change": "changed", "severity": "high",
                                "old": 13, "new": 16, "section": "Kids <b>",
                                "old_text": "Not for children under 13 <script>x()</script>",
                                "new_text": "Not for children under 16 <img src=x onerror=y>"}]}
    change = Change(id=7, target_id=1, from_version_id=1, to_version_id=2, material=True,
                    comparison_json=json.dumps(comparison))
    old = Version(id=1, target_id=1, snapshot_id=1, text_sha256="0" * 64,
                  normalizer_version=1, captured_at=datetime(2024, 1, 1, tzinfo=UTC))
    new = Version(id=2, target_id=1, snapshot_id=2, text_sha256="1" * 64,
                  normalizer_version=1, captured_at=datetime(2024, 2, 1, tzinfo=UTC))
    from tracker.blobs import BlobStore

    item = ChangeItem(TargetInfo(1, "kids", "https://example.org/p?a=1&b=<2>"), change, old, new)
    composed = compose_change(item, BlobStore(tmp_path))  # blobs missing: findings only
    assert composed.subject == "[policy change] kids: children"
    assert "<script>" not in composed.html and "<img" not in composed.html
    assert "&lt;script&gt;x()&lt;/script&gt;" in composed.html
    assert "Kids &lt;b&gt;" in composed.html
    assert "a=1&amp;b=&lt;2&gt;" in composed.html
    assert "Effective date: 2018-05-24 -> 2020-01-03" in composed.text
    assert composed.text.index("old: \"Not for children under 13") < \
        composed.text.index("Effective date") < composed.text.index("tracker diff kids 1 2")


# --- rules on hand-made changes ------------------------------------------------------------

def _seed_change(store: Store, comparison: dict, alert_state: str, source: str = "live",
                 name: str = "acme") -> tuple[TargetSpec, int]:
    """A target with two versions and a change between them, inserted directly."""
    blobs = store.blobs
    with store.session() as session:
        target = session.exec(select(Target).where(Target.name == name)).first()
        if target is None:
            target = Target(name=name, url=f"https://{name}.example/privacy")
            session.add(target)
            session.flush()
        assert target.id is not None
        versions = []
        for index, text in enumerate(["Intro.\n\nWe keep logs for 12 months.",
                                      "Intro.\n\nWe keep logs for a year."]):
            sha = blobs.put_text(text + f" {alert_state} {len(comparison)}")
            snap = Snapshot(target_id=target.id, url=target.url, final_url=target.url,
                            status=200, sha256=sha, source=source)
            session.add(snap)
            session.flush()
            version = Version(target_id=target.id, snapshot_id=snap.id, text_sha256=sha,
                              normalizer_version=1, source=source,
                              captured_at=datetime.now(UTC) + timedelta(seconds=index))
            session.add(version)
            session.flush()
            versions.append(version)
        change = Change(target_id=target.id, from_version_id=versions[0].id,
                        to_version_id=versions[1].id, material=bool(comparison.get("material")),
                        noise_only=bool(comparison.get("noise_only")),
                        comparison_json=json.dumps(comparison), source=source,
                        alert_state=alert_state, summary="hand-made")
        session.add(change)
        session.flush()
        spec = TargetSpec.of(target)
        assert change.id is not None
        return spec, change.id


def _outcome(spec: TargetSpec, change_id: int | None, result: str = "new_version",
             failures: int = 0, detail: str | None = None) -> CheckOutcome:
    return CheckOutcome(spec.name, spec.id, result, change_id=change_id, detail=detail,
                        consecutive_failures=failures)


REWORDED = {"material": False, "noise_only": False, "categories": [], "effective_date": None,
            "findings": [{"category": "retention", "change": "reworded", "severity": "info",
                          "old": "P12M", "new": "P1Y", "old_text": "12 months",
                          "new_text": "a year", "section": ""}]}
NOISE = {"material": False, "noise_only": True, "categories": [], "effective_date": None,
         "findings": []}
MATERIAL = {"material": True, "noise_only": False, "categories": ["retention"],
            "effective_date": None,
            "findings": [{"category": "retention", "change": "changed", "severity": "high",
                          "old": "P12M", "new": "P24M", "old_text": "12 months",
                          "new_text": "24 months", "section": ""}]}


def _run_rules(store: Store, config: Config, spec: TargetSpec, outcome: CheckOutcome,
               recovered_from: int = 0) -> list[Alert]:
    with store.session() as session:
        state = fetch_state(session, spec.id)
        return on_check_outcome(session, config, spec, state, outcome, recovered_from)


@pytest.mark.parametrize("comparison,state", [(NOISE, "none"), (MATERIAL, "suppressed")])
def test_noise_only_and_backfilled_changes_never_mail(tmp_path: Path, comparison: dict,
                                                      state: str) -> None:
    config = make_config(tmp_path, [], email={"host": "127.0.0.1", "recipients": ["a@x.org"]})
    store = Store.open(config)
    spec, change_id = _seed_change(store, comparison, state,
                                   source="wayback" if state == "suppressed" else "live")
    assert _run_rules(store, config, spec, _outcome(spec, change_id)) == []
    with store.session() as session:
        assert queue_digest(session, config) == []
    assert _alerts(store) == []
    with Session(store.engine) as session:
        change = session.get(Change, change_id)
        assert change is not None and change.alert_state == state


def test_material_change_queued_once_even_if_rules_run_twice(tmp_path: Path) -> None:
    config = make_config(tmp_path, [])
    store = Store.open(config)
    spec, change_id = _seed_change(store, MATERIAL, "pending")
    [alert] = _run_rules(store, config, spec, _outcome(spec, change_id))
    assert alert.dedup_key == f"change:{change_id}"
    assert alert.recipients_json == "[]"  # email not configured: recorded anyway
    with store.session() as session:  # even a change put back to pending never queues twice
        change = session.get(Change, change_id)
        assert change is not None
        change.alert_state = "pending"
    assert _run_rules(store, config, spec, _outcome(spec, change_id)) == []
    assert len(_alerts(store)) == 1


def test_digest_batches_non_material_changes_per_recipient_group(tmp_path: Path) -> None:
    config = make_config(tmp_path, [], email={
        "host": "127.0.0.1", "recipients": ["team@x.org"], "tags": {"legal": ["legal@x.org"]}})
    store = Store.open(config)
    spec_a, change_a = _seed_change(store, REWORDED, "pending", name="alpha")
    with store.session() as session:  # make the rules decide: a reworded change goes to digest
        row = session.get(Change, change_a)
        assert row is not None
        row.alert_state = "digest"
    spec_b, change_b = _seed_change(store, {**REWORDED, "categories": ["effective_date"],
                                            "effective_date": {"old": "2020-01-01",
                                                               "new": "2021-01-01"}},
                                    "digest", name="beta")
    with store.session() as session:
        beta = session.get(Target, spec_b.id)
        assert beta is not None
        beta.tags_json = json.dumps(["legal"])
    _, noise = _seed_change(store, NOISE, "none", name="gamma")
    assert _run_rules(store, config, spec_a, _outcome(spec_a, change_a)) == []  # not at once
    with store.session() as session:
        digests = queue_digest(session, config)
    # team@ follows both targets, legal@ only beta: two groups, nobody sees another's mail.
    by_recipients = {tuple(json.loads(a.recipients_json)): a for a in digests}
    assert set(by_recipients) == {("team@x.org",), ("legal@x.org",)}
    team, legal = by_recipients[("team@x.org",)], by_recipients[("legal@x.org",)]
    assert "alpha" in team.body_text and "beta" in team.body_text
    assert "alpha" not in legal.body_text and "beta" in legal.body_text
    assert team.subject.startswith("[policy digest] 2 changes")
    assert "Effective date: 2020-01-01 -> 2021-01-01" in legal.body_text
    assert all(a.kind == "digest" and a.dedup_key.startswith("digest:") for a in digests)
    with store.session() as session:
        assert queue_digest(session, config) == []  # each change is in exactly one digest
        states = {c.id: c.alert_state for c in session.exec(select(Change))}
    assert states[change_a] == states[change_b] == "queued" and states[noise] == "none"


def test_digest_off_means_never_mailed(tmp_path: Path) -> None:
    config = make_config(tmp_path, [], daemon={"digest": "off"})
    store = Store.open(config)
    spec, change_id = _seed_change(store, REWORDED, "digest")
    assert _run_rules(store, config, spec, _outcome(spec, change_id)) == []
    with store.session() as session:
        assert queue_digest(session, config) == []
        change = session.get(Change, change_id)
        assert change is not None and change.alert_state == "none"


# --- tracking failures ---------------------------------------------------------------------

def test_broken_once_after_threshold_then_recovered_once(
        tmp_path: Path, page_server: PageServer, smtp: SmtpSink) -> None:
    page_server.html("/p", policy_page())
    config = make_config(tmp_path, [{"name": "acme", "url": page_server.url("/p")}],
                         email={"host": "127.0.0.1", "port": smtp.port, "security": "none",
                                "recipients": ["team@x.org"]})
    store, specs = _open(config)
    run_checks(config, store, specs)
    page_server.html("/p", "<h1>Internal error</h1>", status=500)
    for expected_failures in range(1, 6):
        [outcome] = run_checks(config, store, specs)
        assert outcome.result in ("failed", "quarantined")
        assert outcome.consecutive_failures == expected_failures
        kinds = [a.kind for a in _alerts(store)]
        assert kinds == ([] if expected_failures < 3 else ["broken"])
        send_due(store, config)
    [broken] = _alerts(store)
    assert broken.status == "sent"
    assert broken.subject.startswith("[tracking broken] acme: ")
    assert "500" in broken.subject
    assert "tracking broken: " in broken.body_text and " since " in broken.body_text
    assert "not a policy change" in broken.body_text
    with Session(store.engine) as session:
        state = session.get(FetchState, specs[0].id)
        assert state is not None and state.broken_alerted
        assert broken.dedup_key.startswith(f"broken:{specs[0].id}:")

    page_server.html("/p", policy_page())
    [outcome] = run_checks(config, store, specs)
    assert outcome.result in ("unchanged", "not_modified")
    run_checks(config, store, specs)  # still fine: nothing more
    assert [a.kind for a in _alerts(store)] == ["broken", "recovered"]
    send_due(store, config)
    subjects = [m["Subject"] for m in smtp.wait_for(2)]
    assert subjects[1] == "[tracking recovered] acme"
    assert len(smtp.messages) == 2
    with Session(store.engine) as session:
        state = session.get(FetchState, specs[0].id)
        assert state is not None and not state.broken_alerted


def test_quarantined_bot_wall_is_reported_as_broken_not_as_change(
        tmp_path: Path, page_server: PageServer) -> None:
    page_server.html("/p", policy_page())
    config = make_config(tmp_path, [{"name": "acme", "url": page_server.url("/p")}],
                         daemon={"failure_threshold": 2})
    store, specs = _open(config)
    run_checks(config, store, specs)
    page_server.html("/p", CHALLENGE)
    results = [run_checks(config, store, specs)[0].result for _ in range(3)]
    assert results == ["quarantined"] * 3
    [alert] = _alerts(store)
    assert alert.kind == "broken"
    assert alert.subject == "[tracking broken] acme: bot wall (Cloudflare challenge)"
    assert alert.body_text.startswith("tracking broken: bot wall (Cloudflare challenge) since ")
    assert "quarantined" in alert.body_text
    with Session(store.engine) as session:
        assert session.exec(select(Change)).all() == []


def test_recovery_before_broken_alert_was_sent_cancels_it(tmp_path: Path) -> None:
    config = make_config(tmp_path, [], daemon={"failure_threshold": 1})
    store = Store.open(config)
    spec, _ = _seed_change(store, NOISE, "none")
    with store.session() as session:
        state = fetch_state(session, spec.id)
        state.consecutive_failures, state.failing_since = 1, datetime.now(UTC)
        state.last_error = "connection refused"
        alerts = on_check_outcome(session, config, spec, state,
                                  _outcome(spec, None, "failed", 1, "connection refused"), 0)
    assert [a.kind for a in alerts] == ["broken"]
    with store.session() as session:
        state = fetch_state(session, spec.id)
        state.consecutive_failures, state.failing_since = 0, None
        assert on_check_outcome(session, config, spec, state,
                                _outcome(spec, None, "unchanged"), 1) == []
        assert not state.broken_alerted
    [broken] = _alerts(store)
    assert broken.status == "cancelled"


# --- preview from the CLI ------------------------------------------------------------------

def test_cli_preview_renders_latest_change_without_sending(
        tmp_path: Path, page_server: PageServer) -> None:
    from typer.testing import CliRunner

    from tracker.cli import app

    page_server.html("/p", policy_page())
    config = make_config(tmp_path, [{"name": "acme", "url": page_server.url("/p")}])
    (tmp_path / "config.toml").write_text(
        f'[storage]\ndatabase = "sqlite:///tracker.db"\n[fetch]\nper_host_delay = 0\n'
        f'retries = 0\n[[targets]]\nname = "acme"\nurl = "{page_server.url("/p")}"\n')
    store, specs = _open(config)
    run_checks(config, store, specs)
    page_server.html("/p", policy_page(24, extra=SCRIPT))
    run_checks(config, store, specs)
    [queued] = _alerts(store)
    runner = CliRunner()
    result = runner.invoke(app, ["--config", str(tmp_path / "config.toml"), "alerts",
                                 "--preview", "acme"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Subject: [policy change] acme: retention")
    assert '"We retain server logs for 24 months after collection, then delete them."' \
        in result.stdout
    result = runner.invoke(app, ["--config", str(tmp_path / "config.toml"), "alerts",
                                 "--preview", "acme", "--html"])
    assert result.exit_code == 0
    assert result.stdout.startswith("<!doctype html>")
    assert "&lt;script&gt;" in result.stdout and "<script" not in result.stdout
    assert [a.status for a in _alerts(store)] == [queued.status] == ["pending"]


NON_MATERIAL_BEFORE = ("<main><h1>Privacy Policy</h1><h2>Contact</h2><p>Write to us at our office"
                       " in Dublin.</p><h2>Retention</h2><p>We keep logs for 6 months.</p></main>")


@pytest.mark.parametrize(("after", "state", "summary"), [
    # New prose that names no category: not material, but a reader should hear of it.
    (NON_MATERIAL_BEFORE.replace("</main>", "<h2>About this policy</h2><p>We rewrote this page "
                                 "so that it is easier to read and understand.</p></main>"),
     "digest", "minor edit, not material: 1 passage added, removed or changed"),
    # Moved text only: noise, never mailed.
    ("<main><h1>Privacy Policy</h1><h2>Retention</h2><p>We keep logs for 6 months.</p>"
     "<h2>Contact</h2><p>Write to us at our office in Dublin.</p></main>",
     "none", "noise only"),
])
def test_what_the_real_comparer_sends_to_the_digest(after: str, state: str, summary: str) -> None:
    from tracker.compare.findings import Comparison
    from tracker.compare.semantic import compare_documents
    from tracker.history import alert_state_for
    from tracker.normalize import normalize_html

    comparison = compare_documents(normalize_html(NON_MATERIAL_BEFORE),
                                   normalize_html(after)).to_json_dict()
    assert not comparison["material"]
    assert alert_state_for(comparison, alerts=True) == state
    assert Comparison.from_json_dict(comparison).summary() == summary
