"""config.toml -> database target sync: edits apply, removals disable, history is kept."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlmodel import select

from tracker.config import TargetConfig, parse_config
from tracker.models import Target
from tracker.store import Store
from tracker.targets import add_target, enabled_targets, sync_config_targets


def config_with(tmp_path: Path, targets: list[dict]):
    data = {"storage": {"database": f"sqlite:///{tmp_path / 't.db'}",
                        "snapshots": str(tmp_path / "snapshots")},
            "targets": targets}
    return parse_config(data, tmp_path / "config.toml")


def rows(store: Store) -> dict[str, Target]:
    with store.session() as session:
        return {t.name: t for t in session.exec(select(Target))}


def test_config_targets_are_synced_edited_disabled_and_relisted(tmp_path: Path) -> None:
    first = config_with(tmp_path, [
        {"name": "acme", "url": "https://acme.example/privacy", "tags": ["eu"]},
        {"name": "globex", "url": "https://globex.example/privacy", "select": ["main"]},
    ])
    store = Store.open(first)
    with store.session() as session:
        sync_config_targets(session, first)
    before = rows(store)
    assert before["globex"].select_json == '["main"]' and before["acme"].tags_json == '["eu"]'

    edited = config_with(tmp_path, [
        {"name": "acme", "url": "https://acme.example/legal/privacy", "tags": ["eu"],
         "remove": [".banner"]},
    ])
    with store.session() as session:
        sync_config_targets(session, edited)
    after = rows(store)
    assert after["acme"].id == before["acme"].id
    assert after["acme"].url == "https://acme.example/legal/privacy"
    assert after["acme"].remove_json == '[".banner"]'
    assert after["globex"].enabled is False  # unlisted: disabled, its history kept
    with store.session() as session:
        assert [s.name for s in enabled_targets(session)] == ["acme"]

    with store.session() as session:
        sync_config_targets(session, first)  # listed again: same row, enabled again
    again = rows(store)
    assert again["globex"].id == before["globex"].id and again["globex"].enabled is True
    assert again["acme"].url == "https://acme.example/privacy" and again["acme"].remove_json == "[]"
    store.close()


def test_a_cli_target_listed_in_config_becomes_managed_by_config(tmp_path: Path) -> None:
    config = config_with(tmp_path, [{"name": "acme", "url": "https://acme.example/privacy"}])
    store = Store.open(config)
    with store.session() as session:
        add_target(session, TargetConfig(name="acme", url="https://acme.example/privacy"))
        add_target(session, TargetConfig(name="solo", url="https://solo.example/terms"))
    with store.session() as session:
        sync_config_targets(session, config)
    synced = rows(store)
    assert synced["acme"].origin == "config"
    assert synced["solo"].origin == "cli" and synced["solo"].enabled  # not config's to disable
    store.close()


def test_a_sync_with_nothing_to_change_writes_nothing(tmp_path: Path) -> None:
    config = config_with(tmp_path, [{"name": "acme", "url": "https://acme.example/privacy"},
                                    {"name": "globex", "url": "https://globex.example/p"}])
    store = Store.open(config)
    with store.session() as session:
        sync_config_targets(session, config)
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_: statements.append(sql.split()[0].upper()))
    with store.session() as session:
        sync_config_targets(session, config)
    assert statements and not {"INSERT", "UPDATE", "DELETE"} & set(statements), statements
    store.close()


def test_a_long_target_list_is_synced_a_chunk_at_a_time_with_nothing_missed(
        tmp_path: Path, monkeypatch) -> None:
    import tracker.target_sync

    monkeypatch.setattr(tracker.target_sync, "CHUNK", 7)  # 50 targets: eight chunks
    listed = [{"name": f"t{i:02d}", "url": f"https://s{i % 3}.example/p{i}"} for i in range(50)]
    config = config_with(tmp_path, listed)
    store = Store.open(config)
    with store.session() as session:
        sync_config_targets(session, config)
    before = rows(store)
    assert len(before) == 50 and all(t.enabled and t.origin == "config" for t in before.values())

    # Every third target edited (some in every chunk), the last ten dropped, three added.
    edited = [dict(t, url=t["url"] + "?v=2") if i % 3 == 0 else t
              for i, t in enumerate(listed[:40])]
    edited += [{"name": f"new{i}", "url": f"https://n.example/{i}"} for i in range(3)]
    with store.session() as session:
        sync_config_targets(session, config_with(tmp_path, edited))
    after = rows(store)
    assert len(after) == 53
    for i in range(50):
        row = after[f"t{i:02d}"]
        assert row.id == before[f"t{i:02d}"].id
        assert row.enabled is (i < 40), i
        assert row.url == listed[i]["url"] + ("?v=2" if i % 3 == 0 and i < 40 else ""), i
    assert all(after[f"new{i}"].enabled for i in range(3))
    store.close()


def test_a_cycle_takes_hosts_in_turns_keeping_each_hosts_order() -> None:
    from tracker.targets import TargetSpec, interleave_hosts

    def spec(i: int, url: str) -> TargetSpec:
        return TargetSpec(i, f"t{i}", url, (), (), "live", None, (), (), True)

    targets = [spec(1, "https://a.example/1"), spec(2, "https://A.example/2"),
               spec(3, "https://a.example/3"), spec(4, "https://b.example/1"),
               spec(5, "https://c.example:8443/1"), spec(6, "https://b.example/2")]
    assert [t.id for t in interleave_hosts(targets)] == [1, 4, 5, 2, 6, 3]
    single = targets[:3]
    assert interleave_hosts(single) == single
    assert interleave_hosts([]) == []


def test_the_planner_and_the_fetcher_name_a_host_alike() -> None:
    """Shards keep each host whole by this name; the fetcher's politeness gates use it too."""
    import httpx

    from tracker.fetch import Fetcher
    from tracker.targets import TargetSpec

    urls = ["https://Example.com/a", "https://example.com:443/b", "https://user@example.com/c",
            "http://example.com:80/d", "http://example.com:8080/e", "https://example.com:8443/f"]
    fetcher = Fetcher()
    for url in urls:
        planned = TargetSpec(1, "t", url, (), (), "live", None, (), (), True).host
        fetcher._gate(httpx.URL(url))
        assert planned in fetcher._gates, (url, planned, list(fetcher._gates))
    assert set(fetcher._gates) == {"example.com", "example.com:8080", "example.com:8443"}


def test_a_targets_host_is_read_from_its_origin_as_from_the_whole_url() -> None:
    """The host is parsed once per origin (cached): it must equal a parse of the whole URL."""
    from urllib.parse import urlsplit

    from tracker.target_spec import TargetSpec, politeness_key

    def whole(url: str) -> str:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        return politeness_key(parts.scheme, parts.hostname or "", port)

    origins = ["https://Example.com", "http://example.com:80", "HTTP://user:pw@[::1]:8080",
               "https://example.com:99999", "https://exa mple.com", "https://a\\b.example",
               "https://example.com:", "https://", "ftp://files.example.org:21"]
    tails = ["", "/", "/privacy?x=1#top", "?q", "#frag", "/a/b\\c", "/caf\u00e9"]
    urls = [o + t for o in origins for t in tails] + [" https://padded.example/a",
                                                      "https://tab\t.example/", "example.com/a"]
    for url in urls:
        assert TargetSpec(1, "t", url, (), (), "live", None, (), (), True).host == whole(url), url
