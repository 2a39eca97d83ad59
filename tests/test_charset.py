"""Charset decisions: a mislabelled page must decode to the same text as a correctly labelled
one, or a header change alone records a bogus new version (mojibake in every section)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from tests.pageserver import PageServer
from tracker.charset import decode_html
from tracker.check import FIRST_VERSION, UNCHANGED, run_checks
from tracker.config import parse_config
from tracker.fetch import FetchResult
from tracker.models import FetchState, Version
from tracker.normalize import normalize_html
from tracker.quality import Verdict, assess
from tracker.store import Store
from tracker.targets import enabled_targets, sync_config_targets

SENTENCE = ("Für Käufer gilt: wir speichern Ihre Bestelldaten so lange, wie es das Gesetz "
            "verlangt, und löschen sie danach innerhalb von dreißig Tagen. ")
PAGE = ("<!doctype html><html><head><title>Datenschutz</title></head><body><main>"
        "<h1>Datenschutzerklärung</h1>" + "".join(f"<h2>Teil {i}</h2><p>{SENTENCE}</p>"
                                                 for i in range(8)) + "</main></body></html>")
PAGE += " " * (-len(PAGE.encode("utf-8")) % 4)  # even lengths are those UTF-16/32 "decode"
UTF8 = PAGE.encode("utf-8")

# Labels that name a single-byte charset: each one decodes any byte string without error.
SINGLE_BYTE_LABELS = ["iso-8859-1", "ISO-8859-1", "latin-1", "latin1", "l1", "iso_8859-1",
                      "cp819", "windows-1252", "cp1252", "iso-8859-15", "windows-1250",
                      "iso-8859-2", "windows-1251", "koi8-r", "macintosh", "us-ascii", "ascii"]


@pytest.fixture
def no_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if charset detection runs: the cases here must be decided by cheap checks."""
    import bs4

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("charset detection ran on a page that did not need it")

    monkeypatch.setattr(bs4, "UnicodeDammit", refuse)


# --- valid multi-byte UTF-8 under a single-byte label ------------------------------------------


@pytest.mark.parametrize("label", SINGLE_BYTE_LABELS)
def test_utf8_bytes_under_single_byte_label_decode_as_utf8(label: str, no_detector) -> None:
    text = decode_html(UTF8, label)
    assert text == PAGE
    assert "FÃ¼r" not in text


def test_header_change_alone_does_not_change_the_text(no_detector) -> None:
    """The audit's case: same bytes, header switched from utf-8 to iso-8859-1."""
    before = normalize_html(decode_html(UTF8, "utf-8")).to_text()
    after = normalize_html(decode_html(UTF8, "iso-8859-1")).to_text()
    assert after == before
    assert "Für Käufer" in after


def test_utf8_bytes_under_single_byte_meta_decode_as_utf8() -> None:
    """A <meta> naming a single-byte charset loses to bytes that are valid multi-byte UTF-8."""
    page = PAGE.replace("<head>", '<head><meta charset="iso-8859-1">')
    assert decode_html(page.encode("utf-8"), None) == page
    assert decode_html(page.encode("utf-8"), "windows-1252") == page
    legacy = PAGE.replace("<head>", '<head><meta http-equiv="Content-Type" '
                                    'content="text/html; charset=windows-1252">')
    assert decode_html(legacy.encode("utf-8"), None) == legacy


def test_utf8_with_bom_under_single_byte_label(no_detector) -> None:
    data = b"\xef\xbb\xbf" + UTF8
    assert decode_html(data, "iso-8859-1") == decode_html(data, "utf-8") == "\ufeff" + PAGE


# --- genuine single-byte pages keep their label ----------------------------------------------


@pytest.mark.parametrize("label", ["iso-8859-1", "latin-1", "windows-1252", "iso-8859-15"])
def test_genuine_latin1_labelled_latin1(label: str, no_detector) -> None:
    assert decode_html(b"F\xfcr K\xe4ufer", label) == "Für Käufer"
    assert decode_html(PAGE.encode("latin-1"), label) == PAGE


def test_genuine_windows_1252_and_cyrillic(no_detector) -> None:
    assert decode_html(b"\x93quoted\x94 \x80 5", "windows-1252") == "\u201cquoted\u201d \u20ac 5"
    russian = "<p>Политика конфиденциальности: мы храним ваши данные.</p>"
    assert decode_html(russian.encode("cp1251"), "windows-1251") == russian
    assert decode_html(russian.encode("koi8-r"), "koi8-r") == russian


def test_latin1_with_a_utf8_lookalike_pair_keeps_its_label(no_detector) -> None:
    """One accidental UTF-8-shaped pair does not make a page UTF-8 if any other byte is not."""
    data = b"\xc3\xa9t\xe9"  # "Ã©té" in Latin-1; \xe9 alone is not valid UTF-8
    assert decode_html(data, "iso-8859-1") == "Ã©té"


def test_pure_ascii_under_any_single_byte_label(no_detector) -> None:
    data = b"<p>Hello, plain ASCII privacy policy.</p>"
    for label in SINGLE_BYTE_LABELS + ["utf-8", None]:
        assert decode_html(data, label) == data.decode("ascii")


def test_ascii_label_on_latin1_bytes_still_detected() -> None:
    """A false ``us-ascii`` label on non-UTF-8 bytes still goes to detection (as before)."""
    assert decode_html(PAGE.encode("latin-1"), "us-ascii") == PAGE


# --- UTF-16 / UTF-32 labels ------------------------------------------------------------------


@pytest.mark.parametrize("label", ["utf-16", "UTF-16", "utf-16le", "utf-16-be", "utf-32",
                                   "utf-32-le"])
def test_utf8_bytes_labelled_utf16_decode_as_utf8(label: str, no_detector) -> None:
    assert len(UTF8) % 4 == 0  # else UTF-16/32 would fail to decode and hide the bug
    assert decode_html(UTF8, label) == PAGE
    ascii_page = b"<html><body><p>Hello there, privacy.</p></body></html>  "
    assert len(ascii_page) % 4 == 0
    assert decode_html(ascii_page, label) == ascii_page.decode("ascii")


def test_non_utf8_bytes_labelled_utf16_without_nul_are_not_read_as_utf16() -> None:
    data = PAGE.encode("latin-1")
    data += b" " * (len(data) % 2)
    assert decode_html(data, "utf-16").rstrip() == PAGE.rstrip()


def test_utf16_mislabel_is_not_quarantined_as_empty() -> None:
    """The audit's second case: a UTF-8 body labelled utf-16 became "empty page (1 words)"."""
    res = FetchResult(url="https://example.com/p", final_url="https://example.com/p",
                      status=200, headers={}, content_type="text/html", charset="utf-16",
                      body=UTF8, fetched_at=datetime.now(UTC), elapsed=0.1)
    document = normalize_html(decode_html(res.body, res.charset))
    assert assess(res, document, None) == Verdict(True, None)
    assert "Für Käufer" in document.to_text()


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                   "utf-32-le"])
def test_genuine_utf16_still_decodes(codec: str) -> None:
    data = PAGE.encode(codec)  # "utf-16" and "utf-32" write a BOM; the others do not
    assert decode_html(data, codec) == PAGE


# --- the BOM wins ----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16", "utf-32"])
@pytest.mark.parametrize("label", ["iso-8859-1", "windows-1252", "utf-8", "utf-16-be", None])
def test_utf16_and_utf32_bom_beat_the_label(codec: str, label: str | None) -> None:
    data = PAGE.encode(codec)  # native-endian with a BOM
    assert decode_html(data, label).lstrip("\ufeff") == PAGE


# --- unlabelled pages and odd labels ---------------------------------------------------------


def test_unlabelled_pages_unchanged() -> None:
    assert decode_html(UTF8, None) == PAGE
    assert decode_html(PAGE.encode("latin-1"), None) == PAGE
    assert decode_html(b"\xef\xbb\xbf" + UTF8, None) == "\ufeff" + PAGE
    assert decode_html(b"\x93quoted\x94", None) == "\u201cquoted\u201d"
    assert decode_html(b"", None) == ""


@pytest.mark.parametrize("label", ["rot13", "base64", "hex", "zlib", "no-such-charset",
                                   "utf-8\x00"])
def test_labels_that_are_not_text_charsets_are_ignored(label: str) -> None:
    """Python knows ``rot13``/``base64`` as codecs, but they are not charsets: never raise."""
    assert decode_html(UTF8, label) == PAGE


def test_other_declared_charsets_unchanged() -> None:
    japanese = "<p>個人情報の取り扱いについて</p>"
    assert decode_html(japanese.encode("shift_jis"), "shift_jis") == japanese
    assert decode_html(japanese.encode("euc-jp"), "euc-jp") == japanese
    assert decode_html(japanese.encode("iso2022_jp"), "iso2022_jp") == japanese


# --- end to end: a header change alone records nothing ---------------------------------------


def test_header_change_records_no_version(tmp_path, page_server: PageServer) -> None:
    headers = {"Content-Type": "text/html; charset=utf-8"}
    page_server.routes["/p"] = lambda request: (200, dict(headers), UTF8)
    config = parse_config({
        "fetch": {"per_host_delay": 0, "timeout": 5, "retries": 1},
        "targets": [{"name": "p", "url": page_server.url("/p")}],
    }, tmp_path / "config.toml")
    store = Store.open(config)
    with store.session() as session:
        sync_config_targets(session, config)

    def check() -> str:
        with store.session() as session:
            specs = enabled_targets(session)
        [outcome] = run_checks(config, store, specs)
        return outcome.result

    assert check() == FIRST_VERSION
    for content_type in ("text/html; charset=iso-8859-1", "text/html; charset=windows-1252",
                         "text/html; charset=utf-16", "text/html; charset=utf-8"):
        headers["Content-Type"] = content_type
        assert check() == UNCHANGED, content_type
    with store.session() as session:
        versions = list(session.exec(select(Version)))
        state = session.exec(select(FetchState)).one()
    assert len(versions) == 1
    assert state.last_error is None
    assert "Für Käufer" in store.blobs.get_text(versions[0].text_sha256)


@pytest.mark.parametrize("content_type", ["text/plain", "text/markdown"])
def test_text_and_markdown_pages_follow_the_same_charset_rules(content_type: str) -> None:
    from tracker.analysis import document_from_body

    body = "We keep logs for Käufer for 30 days.\n".encode()
    texts = {document_from_body(body, content_type, label).to_text()
             for label in ("utf-8", "iso-8859-1", "windows-1252", None)}
    assert len(texts) == 1 and "Käufer" in texts.pop()
