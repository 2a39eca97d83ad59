"""The outbox against a real local SMTP server: retries, leases, exactly-once delivery."""

from __future__ import annotations

import json
import shutil
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, select

from tests.smtp_server import SmtpSink, parts, self_signed, server_context
from tracker.alerts.mailer import Mailer, MailError
from tracker.alerts.outbox import claim_next, queue_alert, retry_delay, send_due
from tracker.config import Config, parse_config
from tracker.models import Alert
from tracker.store import Store


def make_config(tmp_path: Path, port: int, **email: object) -> Config:
    settings = {"host": "127.0.0.1", "port": port, "security": "none",
                "sender": "Policy tracker <tracker@example.org>",
                "recipients": ["team@example.org"], "timeout": 5, "retry_max_interval": 60, **email}
    return parse_config({"storage": {"database": "sqlite:///tracker.db"}, "email": settings},
                        tmp_path / "config.toml")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()  # port reserved, not started: tests decide when it comes up
    try:
        yield server
    finally:
        server.stop()


def _queue(store: Store, key: str, recipients: list[str] | None = None) -> int:
    with store.session() as session:
        alert = queue_alert(session, kind="change", dedup_key=key, subject=f"subject {key}",
                            text=f"text {key}", html=f"<p>html {key}</p>",
                            recipients=["team@example.org"] if recipients is None
                            else recipients)
        assert alert is not None
        session.flush()
        assert alert.id is not None
        return alert.id


def _rows(store: Store) -> list[Alert]:
    with Session(store.engine) as session:
        return list(session.exec(select(Alert).order_by(Alert.id)))


def test_queue_is_idempotent_on_dedup_key(tmp_path: Path, sink: SmtpSink) -> None:
    store = Store.open(make_config(tmp_path, sink.port))
    _queue(store, "change:1")
    with store.session() as session:
        assert queue_alert(session, kind="change", dedup_key="change:1", subject="again",
                           text="", html="", recipients=[]) is None
    assert [a.subject for a in _rows(store)] == ["subject change:1"]


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay(n, 1000, base=30) for n in range(1, 7)] == [30, 60, 120, 240, 480, 960]
    assert retry_delay(12, 1000, base=30) == 1000
    assert retry_delay(40, 3600) == 3600


def test_server_down_then_back_delivers_exactly_once(tmp_path: Path, sink: SmtpSink) -> None:
    config = make_config(tmp_path, sink.port)
    store = Store.open(config)
    alert_id = _queue(store, "change:1")
    start = datetime.now(UTC)

    summary = send_due(store, config, now=lambda: start)  # nothing listens on the port
    assert summary.sent == [] and [i for i, _ in summary.retrying] == [alert_id]
    [row] = _rows(store)
    assert row.status == "pending" and row.attempts == 1
    assert "connection refused" in (row.last_error or "")
    first_retry = row.next_attempt_at.replace(tzinfo=UTC)
    assert first_retry - start == timedelta(seconds=30)

    assert send_due(store, config, now=lambda: start + timedelta(seconds=10)).retrying == []
    summary = send_due(store, config, now=lambda: start + timedelta(seconds=31))
    [row] = _rows(store)
    assert row.attempts == 2 and row.next_attempt_at.replace(tzinfo=UTC) == \
        start + timedelta(seconds=31 + 60)  # backoff doubled

    sink.start()
    later = start + timedelta(hours=1)
    assert send_due(store, config, now=lambda: later).sent == [alert_id]
    assert send_due(store, config, now=lambda: later + timedelta(hours=1)).sent == []
    [message] = sink.wait_for(1)
    assert message["Subject"] == "subject change:1"
    assert message["X-Tracker-Alert"] == "change:1"
    assert message["From"] == "Policy tracker <tracker@example.org>"
    assert sink.received[0].mail_from == "tracker@example.org"
    assert message["Message-ID"].endswith("@example.org>")
    # The same alert sent again (a crash before "sent" was recorded) keeps its Message-ID;
    # the same dedup key in another database, queued at another moment, does not.
    from tracker.alerts.compose import build_message

    def message_id(created_at: datetime) -> str:
        return build_message(subject="s", text="t", html="h", sender="t@example.org",
                             recipients=["a@example.org"], dedup_key="change:1",
                             created_at=created_at)["Message-ID"]

    assert message_id(row.created_at) == message["Message-ID"]
    assert message_id(row.created_at + timedelta(microseconds=1)) != message["Message-ID"]
    text, html = parts(message)
    assert text.strip() == "text change:1" and "<p>html change:1</p>" in html
    [row] = _rows(store)
    assert row.status == "sent" and row.attempts == 3 and row.last_error is None
    assert len(sink.received) == 1


def test_claim_holds_a_lease_and_a_stale_lease_is_retried(tmp_path: Path,
                                                          sink: SmtpSink) -> None:
    config = make_config(tmp_path, sink.port)
    store = Store.open(config)
    alert_id = _queue(store, "broken:1:x")
    now = datetime.now(UTC)
    claimed = claim_next(store, now, lease=120)
    assert claimed is not None and claimed.id == alert_id and claimed.status == "sending"
    assert claim_next(store, now, lease=120) is None  # a second sender gets nothing
    assert claim_next(store, now + timedelta(seconds=60), lease=120, force=True) is None
    # The first sender "crashed": after the lease, the alert is sent by someone else.
    sink.start()
    summary = send_due(store, config, now=lambda: now + timedelta(seconds=121))
    assert summary.sent == [alert_id]
    assert len(sink.wait_for(1)) == 1


def test_two_concurrent_senders_never_send_one_alert_twice(tmp_path: Path,
                                                           sink: SmtpSink) -> None:
    config = make_config(tmp_path, sink.port)
    store = Store.open(config)
    ids = [_queue(store, f"change:{n}") for n in range(12)]
    sink.start()
    results: list[list[int]] = []

    def sender() -> None:
        results.append(send_due(store, config).sent)

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    sent = [i for batch in results for i in batch]
    assert sorted(sent) == ids  # each exactly once, across senders
    subjects = sorted(m["Subject"] for m in sink.wait_for(12))
    assert subjects == sorted(f"subject change:{n}" for n in range(12))
    assert {a.status for a in _rows(store)} == {"sent"}


def test_refused_recipient_is_a_permanent_failure(tmp_path: Path, sink: SmtpSink) -> None:
    sink.refuse = {"gone@example.org"}
    config = make_config(tmp_path, sink.port)
    store = Store.open(config)
    bad = _queue(store, "change:1", ["gone@example.org"])
    good = _queue(store, "change:2", ["team@example.org"])
    sink.start()
    summary = send_due(store, config)
    assert summary.sent == [good] and [i for i, _ in summary.failed] == [bad]
    rows = {a.id: a for a in _rows(store)}
    assert rows[bad].status == "failed" and "gone@example.org" in (rows[bad].last_error or "")
    assert len(sink.received) == 1


def test_empty_recipients_resolved_from_config_at_send_time(tmp_path: Path,
                                                            sink: SmtpSink) -> None:
    store = Store.open(make_config(tmp_path, sink.port, recipients=[]))
    alert_id = _queue(store, "digest:x", [])  # queued while nobody was configured
    summary = send_due(store, make_config(tmp_path, sink.port, recipients=[]))
    assert [i for i, _ in summary.retrying] == [alert_id]
    assert "no recipients" in (_rows(store)[0].last_error or "")
    sink.start()
    config = make_config(tmp_path, sink.port, recipients=["late@example.org"])
    assert send_due(store, config, force=True).sent == [alert_id]
    assert sink.received[0].rcpt_tos == ["late@example.org"]
    assert json.loads(_rows(store)[0].recipients_json) == ["late@example.org"]  # on record


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_password_from_environment(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    sink = SmtpSink(username="tracker", password="s3cret-pw").start()
    try:
        config = make_config(tmp_path, sink.port, username="tracker",
                             password_env="TRACKER_TEST_SMTP_PW")
        store = Store.open(config)
        alert_id = _queue(store, "change:1")
        monkeypatch.setenv("TRACKER_TEST_SMTP_PW", "wrong-pw")
        summary = send_due(store, config)
        [(failed_id, error)] = summary.retrying
        assert failed_id == alert_id and "login" in error and "wrong-pw" not in error
        monkeypatch.setenv("TRACKER_TEST_SMTP_PW", "s3cret-pw")
        assert send_due(store, config, force=True).sent == [alert_id]
        assert len(sink.wait_for(1)) == 1
    finally:
        sink.stop()


def test_starttls_required_but_not_offered_is_a_clear_error(sink: SmtpSink,
                                                            tmp_path: Path) -> None:
    sink.start()
    config = make_config(tmp_path, sink.port, security="starttls")
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        Mailer(config.email).open()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_modes_deliver_over_encrypted_connections(tmp_path: Path, security: str) -> None:
    cert, key = self_signed(tmp_path)
    context = server_context(cert, key)
    sink = SmtpSink(ssl_context=context if security == "ssl" else None,
                    starttls=context if security == "starttls" else None).start()
    try:
        config = make_config(tmp_path, sink.port, security=security)
        client = ssl.create_default_context(cafile=str(cert))
        with Mailer(config.email, context=client) as mailer:
            message = EmailMessage()
            message["From"], message["Subject"] = "tracker@example.org", f"over {security}"
            message.set_content("hello")
            assert mailer.send(message, ["team@example.org"]) == {}
        [received] = sink.wait_for(1)
        assert received["Subject"] == f"over {security}"
        # Without trusting the certificate, the default context refuses to talk.
        with pytest.raises(MailError, match="cannot connect"):
            Mailer(config.email).open()
    finally:
        sink.stop()


def test_cli_lists_and_flushes_the_outbox(tmp_path: Path, sink: SmtpSink) -> None:
    from typer.testing import CliRunner

    from tracker.cli import app

    (tmp_path / "config.toml").write_text(
        '[storage]\ndatabase = "sqlite:///tracker.db"\n')
    store = Store.open(make_config(tmp_path, sink.port))
    _queue(store, "change:1")
    runner = CliRunner()
    args = ["--config", str(tmp_path / "config.toml"), "alerts"]
    result = runner.invoke(app, [*args, "--pending", "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["status"] == "pending" and row["dedup_key"] == "change:1"
    result = runner.invoke(app, [*args, "--send"])
    assert result.exit_code != 0 and "email is not configured" in str(result.exception)

    sink.start()
    (tmp_path / "config.toml").write_text(
        f'[storage]\ndatabase = "sqlite:///tracker.db"\n[email]\nhost = "127.0.0.1"\n'
        f'port = {sink.port}\nsecurity = "none"\nrecipients = ["team@example.org"]\n')
    result = runner.invoke(app, [*args, "--send"])
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.stdout
    assert json.loads(runner.invoke(app, [*args, "--pending", "-f", "json"]).stdout) == []
    [row] = json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)
    assert row["status"] == "sent" and row["sent_at"] and row["attempts"] == 1
    result = runner.invoke(app, args)  # the table (narrow test terminal: cells wrap)
    assert result.exit_code == 0 and "sent" in result.stdout and "change:1" in result.stdout
