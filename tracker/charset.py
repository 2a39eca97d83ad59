"""Decide how to decode fetched bytes: header charset, BOM, <meta>, then detection.

Servers lie about charsets (a Latin-1 page labelled UTF-8, a UTF-8 page with no label, a UTF-8
page labelled Latin-1 or UTF-16). A wrong decode is worse than a crash here: the text of every
section changes, so a header change alone would record a new version full of mojibake. So:

* A UTF-16/UTF-32 byte-order mark wins over any label (as in browsers).
* A single-byte label (Latin-1, windows-1252, ...) cannot be checked by decoding, since those
  charsets accept any bytes. Bytes that are valid UTF-8 *and* contain a multi-byte sequence
  are read as UTF-8 anyway: real Latin-1 text almost never forms valid UTF-8 by accident (each
  accented letter would have to be followed by exactly the right symbol bytes), which is why
  browsers' and chardet's detectors trust that signal too.
* A UTF-16/UTF-32 label without a BOM is believed only if the body has NUL bytes: markup is
  ASCII, which those encodings spell with NULs. Without any, the label is ignored.
* Any other label is trusted only when the bytes decode cleanly with it.

Then we fall back to UTF-8 and to BeautifulSoup's ``UnicodeDammit``, which tries the BOM,
``<meta charset>``, UTF-8 and windows-1252 in a sensible order. Every page goes through here,
so the common cases cost at most one ``isascii`` scan and one UTF-8 decode, never detection.
"""

from __future__ import annotations

import codecs

# Python's names (``codecs.lookup(label).name``) for the single-byte, ASCII-compatible
# charsets pages declare: WHATWG's single-byte encodings that Python knows, plus ASCII.
_SINGLE_BYTE = frozenset({
    "ascii", "cp866", "cp874", "tis-620", "koi8-r", "koi8-u", "mac-roman", "mac-cyrillic",
    *(f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16)),
    *(f"cp125{n}" for n in range(9)),
})
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
# Longest first: a UTF-32-LE BOM begins with the UTF-16-LE one.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
              (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode_html(data: bytes, declared: str | None) -> str:
    """Decode an HTML body to text, never raising; undecodable bytes become U+FFFD.

    ``declared`` is the charset from the Content-Type header, if any.
    """
    name = _charset_name(declared)
    if name is None:
        return _undeclared(data)
    for bom, codec in _WIDE_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)  # consumes the BOM, whichever byte order it names
            except UnicodeDecodeError:
                continue  # a UTF-16-LE BOM then U+0000, or a BOM followed by garbage
    if name in _WIDE and b"\x00" not in data:
        return _undeclared(data)  # ASCII markup in UTF-16/32 is full of NULs: a false label
    if name in _SINGLE_BYTE and not data.isascii():
        try:
            return data.decode("utf-8")  # valid multi-byte UTF-8: a mislabelled UTF-8 page
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(name)
    except (UnicodeDecodeError, LookupError):
        # LookupError: ``codecs.lookup`` also knows bytes-to-bytes codecs (``base64``,
        # ``rot13``) that ``bytes.decode`` refuses; a server naming one gave no charset.
        return _undeclared(data)


def _charset_name(declared: str | None) -> str | None:
    """Python's canonical name for a declared charset (aliases folded); None if unknown."""
    if not declared:
        return None
    try:
        return codecs.lookup(declared).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None


def _undeclared(data: bytes) -> str:
    """No usable label: UTF-8 if the bytes are UTF-8, else let ``UnicodeDammit`` decide."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from bs4 import UnicodeDammit  # imported here: bs4 costs ~60 ms, rarely needed

    dammit = UnicodeDammit(data, known_definite_encodings=[], is_html=True)
    if dammit.unicode_markup is not None:
        return dammit.unicode_markup
    return data.decode("utf-8", errors="replace")
