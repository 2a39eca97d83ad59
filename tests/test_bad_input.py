"""Bad configuration and bad input: one line naming the problem, exit 2, nothing written.

tests/test_config.py covers the messages of :func:`tracker.config.load_config` and
tests/test_cli.py a few CLI errors; here every case runs as a command and also checks what it
left behind: a command that fails on its configuration must not create a database or a
snapshot folder, and a command that fails on a target name must not change the store.

Most cases run forked from a process that imported the tracker once (tests/test_crash_loop.py
explains why); a few run the installed console script to prove the real entry point.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pageserver import PageServer
from tests.test_check_pipeline import policy
from tests.test_crash_loop import TRACKER, Forker
from tracker.check import run_checks
from tracker.config import ConfigError, load_config
from tracker.store import Store
from tracker.targets import enabled_targets, sync_config_targets

PASSWORD_VAR = "TRACKER_TEST_UNSET_SMTP_PASSWORD"


@pytest.fixture(scope="module")
def forker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forker]:
    forker = Forker(tmp_path_factory.mktemp("forker"))
    yield forker
    forker.close()


def squeeze(text: str) -> str:
    """``text`` without whitespace: the message survives line wrapping at 80 columns (see
    test_long_error_messages_stay_on_one_line), which may or may not keep the space."""
    return "".join(text.split())


def assert_user_error(code: int, stdout: str, stderr: str, *fragments: str) -> None:
    assert code == 2, f"exit {code}: {stderr}"
    assert "Traceback" not in stderr and stdout == "", (stdout, stderr)
    assert stderr.startswith("error: ") and stderr.count("error:") == 1, stderr
    for fragment in fragments:
        assert squeeze(fragment) in squeeze(stderr), stderr


def written(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} - {"config.toml", "out.log", "out.log.err"}


def run_in(forker: Forker, folder: Path, *args: str, text: str | None = None,
           env: dict[str, str | None] | None = None, timeout: float = 60
           ) -> tuple[int, str, str]:
    if text is not None:
        (folder / "config.toml").write_text(text, encoding="utf-8")
    return forker.run_split(["--config", str(folder / "config.toml"), *args],
                            folder / "out.log", timeout=timeout, cwd=folder, env=env)


# --- configuration ----------------------------------------------------------------------------

TARGET = "[[targets]]\nname = 'a'\nurl = 'https://a.test/p'\n"


@pytest.mark.parametrize(("text", "fragments"), [
    # unknown keys, at every level
    ("[alerting]\nemail = 'x'\n", ["config.toml: alerting: unknown key"]),
    (TARGET + "selector = ['main']\n", ["targets[0] (a).selector: unknown key"]),
    ("[email]\nsmtp_host = 'mail.test'\n", ["email.smtp_host: unknown key"]),
    # wrong types
    ("fetch = 5\n", ["fetch: Input should be a valid dictionary"]),
    (TARGET + "select = 'main'\n", ["targets[0] (a).select: Input should be a valid list"]),
    ("[storage]\nshared = 'maybe'\n", ["storage.shared: Input should be a valid boolean"]),
    ("[email]\nport = 70000\n", ["email.port: Input should be less than or equal to 65535"]),
    # bad URLs
    ("[[targets]]\nname = 'a'\nurl = 'javascript:alert(1)'\n",
     ["targets[0] (a).url: not an http(s) URL: 'javascript:alert(1)'"]),
    ("[[targets]]\nname = 'a'\nurl = 'http://'\n", ["targets[0] (a).url: not an http(s) URL"]),
    ("[wayback]\nbase_url = 'web.archive.org'\n", ["wayback.base_url: not an http(s) URL"]),
    ("[storage]\ndatabase = 'tracker.db'\n", ["storage.database: not a database URL"]),
    ("[storage]\ndatabase = 'sqlite:///no/such/folder/t.db'\n",
     ["storage.database: folder", "does not exist"]),
    ("[[targets]]\nname = 'a'\nurl = 'http://127.0.0.1:99999/'\n",
     ["targets[0] (a).url: bad port in 'http://127.0.0.1:99999/'", "out of range"]),
    # values that would fail every check, or never let one end
    ("[fetch]\nuser_agent = \"ua\\r\\nX-Injected: 1\"\n",
     ["fetch.user_agent: must be one line of printable characters"]),
    ("[fetch]\ntimeout = inf\n", ["fetch.timeout: Input should be a finite number"]),
    ("[daemon]\njitter = 5\n", ["daemon.jitter: Input should be less than or equal to 1"]),
    ("[storage]\nsnapshots = ''\n", ["storage.snapshots: String should have at least 1"]),
    ("[storage]\nshared = true\n", ["storage.shared: only for a PostgreSQL database"]),
    ("[email]\nrecipients = ['team']\n", ["email.recipients: not an email address: 'team'"]),
    ("[email]\nsender = 'Tracker'\n", ["email.sender: not an email address: 'Tracker'"]),
    (TARGET + "recipients = ['a b@x.org']\n", ["targets[0] (a).recipients: not an email"]),
    # bad cron strings
    (TARGET + "schedule = '0 25 * * *'\n", ["targets[0] (a).schedule", "bad cron expression"]),
    ("[daemon]\ndigest = '* * *'\n", ["daemon.digest: schedule '* * *': use an interval"]),
    ("[daemon]\nschedule = '*/0 * * * *'\n", ["daemon.schedule", "bad cron expression"]),
    ("[daemon]\nschedule = '1000000000d'\n",
     ["daemon.schedule: schedule '1000000000d': interval must be at most 366 days"]),
    (TARGET + "schedule = '0 0 31 2 *'\n", ["targets[0] (a).schedule", "never fires"]),
    # not a config file at all
    ("[fetch]\ntimeout = \n", ["invalid TOML"]),
])
def test_config_errors_write_nothing(forker: Forker, tmp_path: Path, text: str,
                                     fragments: list[str]) -> None:
    code, out, err = run_in(forker, tmp_path, "list", text=text)
    assert_user_error(code, out, err, "error: ", *fragments)
    assert written(tmp_path) == set(), "a command that failed on its config wrote files"


def test_config_that_is_not_utf8_or_not_a_file(forker: Forker, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes(b"[fetch]\nuser_agent = '\xff\xfe'\n")
    assert_user_error(*run_in(forker, tmp_path, "list"), "config.toml: not UTF-8 text")
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    code, out, err = forker.run_split(["--config", str(folder), "status"], tmp_path / "out.log",
                                      cwd=tmp_path)
    assert_user_error(code, out, err, "dir.toml: cannot read config (Is a directory)")
    assert written(tmp_path) == {"dir.toml"}


def test_a_database_file_that_is_not_a_database(forker: Forker, tmp_path: Path) -> None:
    (tmp_path / "garbage.db").write_bytes(b"not a database, just some bytes\n" * 100)
    code, out, err = run_in(forker, tmp_path, "list",
                            text="[storage]\ndatabase = 'sqlite:///garbage.db'\n")
    assert_user_error(code, out, err, "storage.database: cannot open", "file is not a database")


def test_tracker_config_variable_naming_a_missing_file(forker: Forker, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config.toml"
    code, out, err = forker.run_split(["list"], tmp_path / "out.log", cwd=tmp_path,
                                      env={"TRACKER_CONFIG": str(missing)})
    assert_user_error(code, out, err, "config file not found")
    assert written(tmp_path) == set()


def test_bad_cron_on_the_command_line_writes_nothing(tmp_path: Path) -> None:
    """Through the installed console script: validation happens before the store is opened."""
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    result = subprocess.run([TRACKER, "--config", str(tmp_path / "config.toml"), "add", "acme",
                             "https://a.test/p", "--schedule", "61 * * * *"],
                            capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert_user_error(result.returncode, result.stdout, result.stderr,
                      "schedule '61 * * * *': bad cron expression")
    assert written(tmp_path) == set()


def test_snapshots_path_that_is_a_file_writes_nothing(forker: Forker, tmp_path: Path) -> None:
    """BUG (tracker/store.py, Store.open): the database is created (create_all) before the
    snapshots folder is checked, so this config error leaves an empty tracker.db behind.
    Fix: create/check ``config.snapshots_dir`` first (StoreError "storage.snapshots: ... is
    not a folder" when it exists as a file), then make the engine and create the tables."""
    (tmp_path / "snaps").write_text("I am a file", encoding="utf-8")
    code, out, err = run_in(forker, tmp_path, "list", text="[storage]\nsnapshots = 'snaps'\n")
    assert_user_error(code, out, err, "storage.snapshots", "snaps")
    assert written(tmp_path) == {"snaps"}


def test_long_error_messages_stay_on_one_line(tmp_path: Path) -> None:
    """BUG (tracker/cli.py): ``err = Console(stderr=True, highlight=False)`` wraps messages at
    80 columns when stderr is not a terminal, so "one line on stderr" breaks as soon as a path
    is long. Fix: ``err = Console(stderr=True, highlight=False, soft_wrap=True)``."""
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "config.toml"
    result = subprocess.run([TRACKER, "--config", str(deep), "list"], capture_output=True,
                            text=True, timeout=90)
    assert result.returncode == 2 and "configfilenotfound" in squeeze(result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# --- the SMTP password ------------------------------------------------------------------------

EMAIL = (f"[email]\nhost = '127.0.0.1'\nport = 2525\nusername = 'tracker'\n"
         f"password_env = '{PASSWORD_VAR}'\nsender = 't@example.org'\n"
         "recipients = ['p@example.org']\n")


def test_missing_password_variable_in_config_api(tmp_path: Path) -> None:
    """The password is read by EmailConfig.password() (config.py), called by the daemon at
    startup (daemon.run_daemon) and by the mailer when it logs in (alerts/mailer.py)."""
    (tmp_path / "config.toml").write_text(EMAIL, encoding="utf-8")
    config = load_config(tmp_path / "config.toml")
    os.environ.pop(PASSWORD_VAR, None)
    with pytest.raises(ConfigError, match=f"email.password_env: environment variable "
                                          f"{PASSWORD_VAR} is not set"):
        config.email.password()


def test_daemon_refuses_to_start_without_the_password(forker: Forker, tmp_path: Path) -> None:
    """`tracker daemon` is the CLI path that reads the password: one line, exit 2. It must not
    create the database either. BUG (tracker/cli_ops.py, daemon): ``config, store = c.config,
    c.store`` opens (creates) the store before run_daemon checks the password. Fix: in
    cli_ops.daemon, call ``config.email.password()`` when ``config.email.enabled``, before
    touching ``c.store`` (run_daemon's own check can stay)."""
    code, out, err = run_in(forker, tmp_path, "daemon", text=EMAIL,
                            env={PASSWORD_VAR: None}, timeout=30)
    assert_user_error(code, out, err, f"environment variable {PASSWORD_VAR} is not set")
    assert written(tmp_path) == set(), "the daemon created the store before failing"


# --- files for `tracker compare` --------------------------------------------------------------

def test_compare_unreadable_inputs(forker: Forker, tmp_path: Path) -> None:
    good = tmp_path / "good.html"
    good.write_text(policy(), encoding="utf-8")
    folder = tmp_path / "folder.html"
    folder.mkdir()
    plain_folder = tmp_path / "plain"
    plain_folder.mkdir()
    cases = [
        ([str(folder), str(good)], ["folder.html: is a directory, not a file"]),
        ([str(good), str(plain_folder)], ["plain: unsupported file type '(none)'"]),
        ([str(good), str(tmp_path / "gone.md")], ["gone.md: no such file"]),
        ([str(good), str(tmp_path / "policy.pdf")], ["unsupported file type '.pdf'"]),
    ]
    for args, fragments in cases:
        code, out, err = forker.run_split(["compare", *args], tmp_path / "out.log")
        assert_user_error(code, out, err, *fragments)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_compare_file_without_read_permission(forker: Forker, tmp_path: Path) -> None:
    secret = tmp_path / "secret.html"
    secret.write_text(policy(), encoding="utf-8")
    secret.chmod(0)
    try:
        code, out, err = forker.run_split(["compare", str(secret), str(secret)],
                                          tmp_path / "out.log")
    finally:
        secret.chmod(0o600)
    assert_user_error(code, out, err, "secret.html: cannot read (Permission denied)")


def test_compare_survives_garbage_bytes(forker: Forker, tmp_path: Path) -> None:
    """Undecodable bytes are input too: no crash, just a (meaningless) comparison."""
    garbage = tmp_path / "garbage.html"
    garbage.write_bytes(bytes(range(256)) * 40)
    broken = tmp_path / "broken.md"
    broken.write_bytes(b"# Title\n\xff\xfe\x00 text \x80\x81\n")
    code, out, err = forker.run_split(["compare", str(garbage), str(broken), "--format",
                                       "json"], tmp_path / "out.log")
    assert code == 0 and "Traceback" not in err, err


# --- unknown targets and versions -------------------------------------------------------------

@pytest.fixture
def populated(tmp_path: Path, page_server: PageServer) -> Path:
    page_server.html("/p", policy())
    path = tmp_path / "config.toml"
    path.write_text("[fetch]\nper_host_delay = 0\ntimeout = 5\nretries = 0\n[[targets]]\n"
                    f"name = 'acme'\nurl = '{page_server.url('/p')}'\n", encoding="utf-8")
    config = load_config(path)
    store = Store.open(config)
    with store.session() as session:
        sync_config_targets(session, config)
    with store.session() as session:
        specs = enabled_targets(session)
    run_checks(config, store, specs)
    store.close()
    return path


def store_state(config: Path) -> tuple:
    with sqlite3.connect(config.parent / "tracker.db") as connection:
        counts = tuple(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                       for table in ("targets", "snapshots", "versions", "changes",
                                     "check_log", "fetch_state", "alerts"))
    connection.close()
    blobs = sorted(p.name for p in (config.parent / "snapshots").rglob("*") if p.is_file())
    return counts, blobs


@pytest.mark.parametrize("args", [
    ["show", "nobody"], ["show", "nobody", "--raw"], ["export", "nobody"],
    ["export", "nobody", "--format", "markdown"], ["backfill", "nobody"],
    ["check", "acme", "nobody"], ["renormalize", "nobody"], ["remove", "nobody"],
    ["alerts", "--preview", "nobody"],
])
def test_unknown_target_names_it_and_changes_nothing(forker: Forker, populated: Path,
                                                    args: list[str]) -> None:
    before = store_state(populated)
    code, out, err = forker.run_split(["--config", str(populated), *args],
                                      populated.parent / "out.log")
    assert_user_error(code, out, err, "unknown target 'nobody'; known targets: acme")
    assert store_state(populated) == before


@pytest.mark.parametrize(("args", "fragment"), [
    (["show", "acme", "999"], "target 'acme' has no version 999 (recent: "),
    (["show", "acme", "newest"], "version 'newest': use a version id from `tracker history"),
    (["diff", "acme"], "target 'acme' has no change yet"),
    (["diff", "acme", "latest"], "is acme's first version: nothing came before it"),
    (["diff", "acme", "1", "999"], "target 'acme' has no version 999"),
    (["backfill", "acme", "--from", "2024-02-30"], "--from: not a date in YYYY-MM-DD form"),
    (["backfill", "acme", "--from", "2024-02-01", "--to", "2023-01-01"],
     "--from is after --to"),
])
def test_bad_version_and_date_arguments(forker: Forker, populated: Path, args: list[str],
                                        fragment: str) -> None:
    before = store_state(populated)
    code, out, err = forker.run_split(["--config", str(populated), *args],
                                      populated.parent / "out.log")
    assert_user_error(code, out, err, fragment)
    assert store_state(populated) == before
