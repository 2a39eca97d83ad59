"""A cheap fingerprint of an HTML page that ignores everything the normalizer ignores.

Session tokens, cache busters and nonces live in script bodies and URL-valued attributes
(href, src, srcset, action, data-*, nonce, integrity, meta content). The normalizer drops all
of those, so two pages whose fingerprints match are guaranteed to normalize to the same text,
and the check can skip parsing. Targets whose CSS selectors inspect attributes (``[href*=..]``)
opt out, because then attribute values can change the output.
"""

from __future__ import annotations

import hashlib
import re

_SCRIPTS = re.compile(rb"<(script|style|noscript|template)\b[^>]*>.*?</\1\s*>",
                      re.IGNORECASE | re.DOTALL)
_COMMENTS = re.compile(rb"<!--.*?-->", re.DOTALL)
_VOLATILE_ATTRS = re.compile(
    rb"""\s(?:href|src|srcset|action|nonce|integrity|content|value|data-[\w-]+)\s*=\s*"""
    rb"""(?:"[^"]*"|'[^']*'|[^\s>]+)""",
    re.IGNORECASE,
)


def page_fingerprint(raw: bytes, selectors: tuple[str, ...], context: str) -> str | None:
    """sha256 of the page with volatile parts blanked, or None when that would not be sound."""
    if any("[" in selector for selector in selectors):
        return None
    stripped = _SCRIPTS.sub(b"<\\1>", raw)
    stripped = _COMMENTS.sub(b"", stripped)
    stripped = _VOLATILE_ATTRS.sub(b"", stripped)
    digest = hashlib.sha256(stripped)
    # The context (normalizer version, declared charset, content type) changes the output too.
    digest.update(f"|{context}|{'|'.join(selectors)}".encode())
    return digest.hexdigest()
