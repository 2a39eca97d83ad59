"""Decide how to decode fetched bytes: header charset, BOM, <meta>, then detection.

Servers lie about charsets (a Latin-1 page labelled UTF-8, a UTF-8 page with no label). We
trust a declared charset only when the bytes decode cleanly with it, then fall back to
BeautifulSoup's ``UnicodeDammit``, which tries the BOM, ``<meta charset>``, UTF-8 and
windows-1252 in a sensible order.
"""

from __future__ import annotations

import codecs


def decode_html(data: bytes, declared: str | None) -> str:
    """Decode an HTML body to text, never raising; undecodable bytes become U+FFFD."""
    if declared:
        try:
            codecs.lookup(declared)
        except LookupError:
            declared = None
    if declared:
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from bs4 import UnicodeDammit  # imported here: bs4 costs ~60 ms, rarely needed

    dammit = UnicodeDammit(data, known_definite_encodings=[], is_html=True)
    if dammit.unicode_markup is not None:
        return dammit.unicode_markup
    return data.decode("utf-8", errors="replace")
