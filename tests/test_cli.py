"""The CLI through its real entry point (the installed `tracker` console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_check_pipeline import policy

TRACKER = str(Path(sys.executable).with_name("tracker"))


def run(*args: str, config: Path | None = None, check: bool = True,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    command = [TRACKER] + (["--config", str(config)] if config else []) + list(args)
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"{command} exited {result.returncode}: {result.stderr}")
    return result


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("[fetch]\nper_host_delay = 0\ntimeout = 5\nretries = 0\n", encoding="utf-8")
    return path


def test_add_check_history_diff_show_export(page_server, config: Path) -> None:
    page_server.html("/privacy", policy())
    run("add", "acme", page_server.url("/privacy"), config=config)
    listed = json.loads(run("list", "--format", "json", config=config).stdout)
    assert [t["name"] for t in listed] == ["acme"]
    assert "first version" in run("check", "--all", config=config).stdout
    page_server.html("/privacy", policy(token="other"))
    assert "1 unchanged" in run("check", "acme", config=config).stdout
    page_server.html("/privacy", policy(retention="24 months", sell="may sell"))
    out = run("check", "--all", config=config).stdout
    assert "new version" in out and "MATERIAL" in out

    history = json.loads(run("history", "acme", "--format", "json", config=config).stdout)
    assert len(history) == 2
    assert {"id", "captured_at", "source", "sha256", "change"} <= set(history[0])
    assert history[0]["change"] is None and history[1]["change"]["material"] is True
    assert "retention" in history[1]["change"]["categories"]
    table = run("history", "acme", config=config).stdout
    assert "MATERIAL" in table

    diff = run("diff", "acme", config=config).stdout
    assert "[-12-]{+24+}" in diff and "retention" in diff
    first, second = str(history[0]["id"]), str(history[1]["id"])
    diff_json = json.loads(run("diff", "acme", first, second, "--format", "json",
                               config=config).stdout)
    assert diff_json["comparison"]["material"] is True
    assert diff_json["target"] == {"name": "acme", "url": page_server.url("/privacy")}
    assert (diff_json["old_version"]["id"], diff_json["new_version"]["id"]) == (
        int(first), int(second))
    assert diff_json["new_version"]["captured_at"].endswith("Z")
    html = run("diff", "acme", "--format", "html", config=config).stdout
    assert html.startswith("<!doctype html>") and "<ins" in html

    assert "24 months" in run("show", "acme", config=config).stdout
    assert "12 months" in run("show", "acme", first, config=config).stdout
    assert "<html" in run("show", "acme", "--raw", config=config).stdout.lower()

    exported = json.loads(run("export", "acme", config=config).stdout)
    assert len(exported["versions"]) == 2
    assert exported["versions"][0]["provenance"]["source"] == "live"
    assert "# acme" in run("export", "acme", "--format", "markdown", config=config).stdout

    status = json.loads(run("status", "--format", "json", config=config).stdout)
    assert status["targets"][0]["name"] == "acme" and status["targets"][0]["versions"] == 2


def test_compare_files_json_contract(tmp_path: Path) -> None:
    old, new = tmp_path / "old.html", tmp_path / "new.html"
    old.write_text(policy(), encoding="utf-8")
    new.write_text(policy(retention="24 months"), encoding="utf-8")
    data = json.loads(run("compare", str(old), str(new), "--format", "json").stdout)
    assert {"material", "noise_only", "categories", "effective_date", "findings"} <= set(data)
    assert data["material"] is True and "retention" in data["categories"]
    same = json.loads(run("compare", str(old), str(old), "--format", "json").stdout)
    assert same["material"] is False and same["noise_only"] is True


@pytest.mark.parametrize(("args", "message"), [
    (["compare", "/no/such/old.md", "/no/such/new.md"], "no such file"),
    (["history", "nobody"], "unknown target 'nobody'"),
    (["diff", "nobody"], "unknown target 'nobody'"),
    (["add", "bad name", "https://a.test/"], "name"),
    (["add", "x", "notaurl"], "not an http(s) URL"),
    (["check"], "name the targets to check, or use --all"),
    (["list", "--format", "xml"], "Invalid value for '--format'"),
    (["no-such-command"], "No such command 'no-such-command'"),
    (["backfill", "x", "--from", "2020-13-01"], "--from: not a date"),
])
def test_user_errors_are_one_line_without_traceback(config: Path, args, message) -> None:
    result = run(*args, config=config, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_malformed_config_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[fetch]\ntimeout = 'soon'\n", encoding="utf-8")
    result = run("list", config=bad, check=False)
    assert result.returncode == 2 and "fetch.timeout" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run("list", config=tmp_path / "absent.toml", check=False)
    assert missing.returncode == 2 and "config file not found" in missing.stderr


def test_config_from_environment_variable(tmp_path: Path, config: Path) -> None:
    import os

    env = {**os.environ, "TRACKER_CONFIG": str(config)}
    result = subprocess.run([TRACKER, "list", "--format", "json"], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and json.loads(result.stdout) == []
    assert (config.parent / "tracker.db").exists()


def test_demo_runs_offline(tmp_path: Path) -> None:
    result = run("demo", "--keep", str(tmp_path / "demo"), cwd=tmp_path)
    assert "material change" in result.stdout
    assert "unchanged" in result.stdout
    history = json.loads(run("history", "acme-privacy", "--format", "json",
                             config=tmp_path / "demo" / "config.toml").stdout)
    assert len(history) == 2 and history[1]["change"]["material"]


def test_demo_without_keep_leaves_nothing_and_a_busy_port_is_one_line(tmp_path: Path) -> None:
    import socket

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run([TRACKER, "demo"], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0 and "material change" in result.stdout
    assert list(tmp_path.iterdir()) == []  # its temporary folder is gone
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = subprocess.run([TRACKER, "demo", "--port", str(port)], capture_output=True,
                                 text=True, timeout=60, cwd=tmp_path, env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "Invalid value for '--port': Address already in use" in refused.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_command_leaves_all_output_and_a_closed_database(page_server, config: Path) -> None:
    """The entry point skips the interpreter's teardown: nothing may be lost by that."""
    for number in range(60):
        page_server.html(f"/p{number}", policy(token=str(number)))
        run("add", f"site{number:02d}", page_server.url(f"/p{number}"), config=config)
    out = run("check", "--all", config=config).stdout
    assert out.rstrip().endswith("checked 60: 60 first version")
    assert out.count("first_version") == 60  # the whole table made it through the pipe
    database = config.parent / "tracker.db"
    assert database.exists() and not Path(f"{database}-wal").exists()  # WAL folded back in
    listed = json.loads(run("list", "--format", "json", config=config).stdout)
    assert len(listed) == 60


def test_check_releases_the_config_target_list_only_after_syncing_it(tmp_path: Path) -> None:
    from tracker.cli import Context

    path = tmp_path / "config.toml"
    path.write_text('[[targets]]\nname = "acme"\nurl = "http://127.0.0.1:9/privacy"\n',
                    encoding="utf-8")
    context = Context(str(path))
    with pytest.raises(RuntimeError):
        context.config_without_targets()  # not synced yet: the list would be lost
    store = context.store
    released = context.config_without_targets()
    assert released.targets == [] and context.config is released
    from tracker.targets import enabled_targets

    with store.session() as session:
        assert [t.name for t in enabled_targets(session)] == ["acme"]  # the database keeps it
    context.close()


@pytest.mark.parametrize("quiet", [True, False])
def test_a_check_that_is_not_on_a_terminal_never_imports_rich(page_server, config,
                                                               quiet) -> None:
    """rich (~25 ms, a few MB per process) is for terminals; cron, the daemon and pipes skip it."""
    page_server.html("/p", policy())
    run("add", "acme", page_server.url("/p"), config=config)
    run("check", "--all", "--quiet", config=config)
    page_server.html("/p", policy(retention="24 months"))
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "tracker", "--config",
                             str(config), "check", "--all", *(["--quiet"] if quiet else [])],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = _imported(result)
    assert "tracker.record_bulk" in imported  # the new version took the recording path
    assert "tracker.render" not in imported  # queued; its mail is composed when sent
    assert not [name for name in imported if name == "rich" or name.startswith("rich.")]
    if not quiet:
        lines = result.stdout.splitlines()
        assert lines[0].split() == ["target", "result", "detail"]
        assert lines[1].split()[:3] == ["acme", "new_version", "MATERIAL"]
        assert "retention" in lines[1]
        assert lines[2:] == ["checked 1: 1 new version"]
    assert "MATERIAL retention" in run("history", "acme", config=config).stdout
    alerts = json.loads(run("alerts", "--format", "json", config=config).stdout)
    assert [(a["kind"], a["status"]) for a in alerts] == [("change", "pending")]


def _imported(result: subprocess.CompletedProcess) -> list[str]:
    return [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
            if line.startswith("import time:")]


def test_a_cycle_of_unchanged_pages_never_imports_sqlalchemy(page_server, tmp_path) -> None:
    """SQLAlchemy and SQLModel take a third of a second to import: most of a cycle of
    unchanged pages. A cycle runs on plain SQL (a new database, syncing config.toml's list
    included), and what it writes reads back through the ORM as before."""
    page_server.html("/a", policy())
    page_server.html("/b", policy(retention="6 months"))
    config = tmp_path / "config.toml"
    config.write_text("[fetch]\nper_host_delay = 0\nretries = 0\n" + "".join(
        f'[[targets]]\nname = "{name}"\nurl = "{page_server.url("/" + name)}"\n'
        for name in ("a", "b")), encoding="utf-8")

    def check(expected: str) -> list[str]:
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "tracker",
                                 "--config", str(config), "check", "--all"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.splitlines()[-1] == expected
        return _imported(result)

    imported = check("checked 2: 2 first version")  # the database is made here
    assert "sqlalchemy" not in imported and "sqlmodel" not in imported
    page_server.html("/a", policy(token="new-session"))  # same text, another session token
    imported = check("checked 2: 2 unchanged")
    assert "sqlalchemy" not in imported and "sqlmodel" not in imported
    # config.toml as it was: its settings come from the snapshot of its last validation;
    # plain URLs over tracker.http11 need no httpx
    assert not {"pydantic", "tomllib", "httpx"} & set(imported)
    status = json.loads(run("status", "--format", "json", config=config).stdout)["targets"]
    assert [(t["name"], t["last_result"], t["versions"]) for t in status] == [
        ("a", "unchanged", 1), ("b", "unchanged", 1)]
    from sqlmodel import Session, select

    from tracker.models import FetchState, Version
    from tracker.store import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    with Session(engine) as session:  # the plain-SQL rows, read back through the ORM
        for version in session.exec(select(Version)):
            assert version.last_seen_at > version.captured_at
        for state in session.exec(select(FetchState)):
            assert state.last_success_at == state.last_check_at
            assert state.last_fingerprint
    engine.dispose()
    page_server.html("/b", policy(retention="9 months"))
    edited = config.read_text(encoding="utf-8").replace('name = "b"', 'name = "c"')
    config.write_text(edited, encoding="utf-8")  # a list edited since: synced in plain SQL
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "tracker", "--config",
                             str(config), "check", "--all"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sqlalchemy" not in _imported(result)
    assert result.stdout.splitlines()[-1] == "checked 2: 1 first version, 1 unchanged"
    listed = {t["name"]: t for t in json.loads(run("list", "--all", "--format", "json",
                                                   config=config).stdout)}
    assert listed["b"]["enabled"] is False and listed["c"]["enabled"] is True


def test_sqlite_urls_the_plain_sql_path_reads_as_sqlalchemy_does(tmp_path) -> None:
    """A percent-escaped path is one file to both paths (SQLAlchemy decodes it), and an
    in-memory database goes through the engine's pool, still as SQLite."""
    target = '[[targets]]\nname = "a"\nurl = "http://127.0.0.1:9/x"\n'  # refused: a failure
    escaped = tmp_path / "escaped"
    escaped.mkdir()
    (escaped / "config.toml").write_text(
        f'[storage]\ndatabase = "sqlite:///my%20data.db"\n{target}', encoding="utf-8")
    result = run("check", "--all", cwd=escaped)
    assert result.stdout.splitlines()[-1] == "checked 1: 1 failed"
    assert sorted(p.name for p in escaped.glob("*.db")) == ["my data.db"]
    assert "failed x1" in run("status", cwd=escaped).stdout
    memory = tmp_path / "memory"
    memory.mkdir()
    (memory / "config.toml").write_text(
        f'[storage]\ndatabase = "sqlite:///:memory:"\n{target}', encoding="utf-8")
    assert run("list", cwd=memory).stdout.split()[5:7] == ["a", "http://127.0.0.1:9/x"]


def test_urls_names_and_errors_are_printed_as_text_not_markup(page_server, config: Path) -> None:
    # Square brackets are rich markup: a PHP-style query string lost its "[lang]", and a
    # redirect to ".../[/oops]" (kept as the target's last error) crashed `tracker status`.
    page_server.routes["/moved"] = lambda _request: (301, {"Location": "ftp://x.test/[/oops]"},
                                                     b"")
    page_server.html("/p", policy())
    url = page_server.url("/p?filter[lang]=en&x=[/y]")
    assert run("add", "php", url, config=config).stdout.strip() == f"added php -> {url}"
    run("add", "moved", page_server.url("/moved"), config=config)
    run("check", "--all", config=config)
    listed = run("list", config=config, cwd=config.parent).stdout
    assert "filter[lang]=en" in listed
    status = subprocess.run([TRACKER, "--config", str(config), "status"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "COLUMNS": "300"})
    assert status.returncode == 0 and "Traceback" not in status.stderr
    assert "redirect to a non-HTTP URL: 'ftp://x.test/[/oops]'" in status.stdout


def test_markdown_export_nests_page_headings_and_escapes_markup() -> None:
    from tracker.cli_export import _nested_markdown

    text = ("# Privacy Policy\n\n## Retention\n\nWe keep logs for 12 months.\n\n"
            "Shown as &lt;script&gt;: <script>alert(1)</script> & more\n\n###### Deep\n\n#hashtag")
    assert _nested_markdown(text) == (
        "### Privacy Policy\n\n#### Retention\n\nWe keep logs for 12 months.\n\n"
        "Shown as &amp;lt;script&amp;gt;: &lt;script&gt;alert(1)&lt;/script&gt; &amp; more\n\n"
        "###### Deep\n\n#hashtag")


def test_a_command_in_a_folder_without_config_says_it_started_a_new_database(
        tmp_path: Path) -> None:
    first = run("status", cwd=tmp_path)
    assert first.stderr.startswith("note: no config.toml here: started a new database ")
    assert (tmp_path / "tracker.db").exists()
    assert run("status", cwd=tmp_path).stderr == ""  # said once, when it was created


def test_a_version_can_be_named_by_the_date_it_was_in_force(page_server, config: Path) -> None:
    import sqlite3

    page_server.html("/privacy", policy())
    run("add", "acme", page_server.url("/privacy"), config=config)
    run("check", "acme", config=config)
    page_server.html("/privacy", policy(retention="24 months"))
    run("check", "acme", config=config)
    with sqlite3.connect(config.parent / "tracker.db") as db:
        first, second = [row[0] for row in db.execute("SELECT id FROM versions ORDER BY id")]
        db.execute("UPDATE versions SET captured_at = '2020-01-01 10:00:00' WHERE id = ?",
                   (first,))
        db.execute("UPDATE versions SET captured_at = '2021-03-01 10:00:00' WHERE id = ?",
                   (second,))
    assert "12 months" in run("show", "acme", "2021-02-28", config=config).stdout
    assert "24 months" in run("show", "acme", "2021-03-01", config=config).stdout
    missing = run("show", "acme", "2019-12-31", config=config, check=False)
    assert missing.returncode == 2 and "has no version captured by 2019-12-31" in missing.stderr
    assert "[-12-]{+24+}" in run("diff", "acme", "2020-06-01", "2022-01-01",
                                 config=config).stdout


def test_the_digest_can_be_queued_and_sent_by_hand(page_server, smtp, tmp_path) -> None:
    """Non-material edits wait for the daemon's digest; `alerts --digest` queues it now."""
    page_server.html("/p", policy())
    config = tmp_path / "config.toml"
    config.write_text(f'[fetch]\nper_host_delay = 0\nretries = 0\n[email]\nhost = "127.0.0.1"\n'
                      f'port = {smtp.port}\nsecurity = "none"\nsender = "t@example.org"\n'
                      f'recipients = ["team@example.org"]\n[daemon]\ndigest = "0 8 * * 1"\n'
                      f'[[targets]]\nname = "acme"\nurl = "{page_server.url("/p")}"\n',
                      encoding="utf-8")
    run("check", "--all", config=config)
    assert run("alerts", "--digest", config=config).stdout.strip() == \
        "no changes waiting for the digest"
    page_server.html("/p", policy().replace(
        "<h2>More</h2>", "<p>This notice is written in plain language so that it is easy to "
                         "read.</p><h2>More</h2>"))
    run("check", "--all", config=config)
    listed = run("alerts", config=config).stdout
    assert "no alerts yet" in listed
    assert "1 change waiting for the next digest (`tracker alerts --digest` queues it now)" \
        in listed
    sent = run("alerts", "--digest", "--send", config=config).stdout.splitlines()
    assert sent[0].startswith("queued digest alert ") and sent[0].endswith(
        "-> team@example.org")
    assert sent[1] == "sent 1, retrying 0, failed 0"
    [mail] = smtp.wait_for(1)
    assert "acme" in mail["Subject"] and mail["To"] == "team@example.org"
    assert "plain language" in mail.get_body(("plain",)).get_content()
    again = run("alerts", "--digest", config=config).stdout
    assert again.strip() == "no changes waiting for the digest"  # in exactly one digest


@pytest.mark.parametrize(("args", "message"), [
    (["alerts", "--html"], "Invalid value for '--html': only with --preview NAME"),
    (["alerts", "--preview", "x", "--send"], "--preview sends and queues nothing"),
    (["alerts", "--preview", "x", "--digest"], "--preview sends and queues nothing"),
    (["alerts", "--limit", "0"], "Invalid value for '--limit'"),
])
def test_alerts_options_that_do_not_go_together(config: Path, args, message) -> None:
    result = run(*args, config=config, check=False)
    assert result.returncode == 2 and message in result.stderr


def test_tables_on_a_terminal_fold_instead_of_cutting(capsys, monkeypatch) -> None:
    from tracker import cli

    monkeypatch.setattr(cli, "out", cli._LazyConsole(highlight=False, width=60, color_system=None))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    rows = cli._table("target", "last check", "result")
    rows.add_row("acme", "2026-12-02T16:30:21Z", "new_version")
    rows.print()
    table = capsys.readouterr().out
    assert "2026-12-02 16:30" in table and "new_version" in table and "…" not in table


def test_compare_can_tell_a_script_whether_the_change_is_material(tmp_path: Path) -> None:
    old, new, same = tmp_path / "old.html", tmp_path / "new.html", tmp_path / "same.html"
    old.write_text(policy(), encoding="utf-8")
    new.write_text(policy(retention="24 months"), encoding="utf-8")
    same.write_text(policy(token="other"), encoding="utf-8")
    assert run("compare", str(old), str(new), check=False).returncode == 0  # the contract
    flagged = run("compare", str(old), str(new), "--fail-on-material", "-f", "json", check=False)
    assert flagged.returncode == 1 and json.loads(flagged.stdout)["material"] is True
    assert run("compare", str(old), str(same), "--fail-on-material").returncode == 0


def test_list_all_shows_retired_pages_with_their_history_kept(page_server, config: Path) -> None:
    page_server.html("/p", policy())
    run("add", "old", page_server.url("/p"), "--schedule", "1d", config=config)
    run("check", "old", config=config)
    run("remove", "old", config=config)
    assert "old" not in run("list", config=config).stdout
    (retired,) = json.loads(run("list", "--all", "--format", "json", config=config).stdout)
    assert retired["enabled"] is False and retired["name"].startswith("old~removed~")
    assert "retired" in run("list", "--all", config=config).stdout
    assert len(json.loads(run("history", retired["name"], "--format", "json",
                              config=config).stdout)) == 1
