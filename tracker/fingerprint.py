"""A fingerprint of a pruned page: equal fingerprints guarantee equal normalized text.

Most checks find the policy unchanged while everything around it rotated: session ids in
links and scripts, cache busters, a consent banner that shows a per-visitor id. The
fingerprint is taken after :func:`tracker.normalize.prune_html` has dropped all of that, over
exactly what :func:`tracker.normalize.document_from_pruned` reads: each remaining element's
tag and number of children, its ``role`` when it is "main" (content detection looks at it),
its text and its tail, in document order, plus the page title. Attributes are otherwise left
out, so link targets and their tokens never count. A check whose fingerprint matches the last
one skips the block walk, the quality gate and all storage.

A target's ``select`` selectors decide which elements are walked, and they may test attributes
(``.policy``, ``#content``, ``[data-section]``): a class moving from one ``<div>`` to another
changes the text without changing anything above. So each element the selectors pick is
marked with the numbers of the selectors that pick it, which pins down the walked containers
and their order exactly.

It costs a fraction of the walk (~0.1 ms on a 40 KB page) and no extra parse: the walk, when
needed, reuses the same pruned tree.
"""

from __future__ import annotations

import hashlib

import lxml.etree

from .normalize import PrunedPage, select_matches

_SEPARATOR = "\x00"
#: Stands in for a target's fingerprint after its URL or selectors changed: it matches no
#: page, and it tells the next check that the settings, not the page, may be what changed:
#: its text is recorded without an alert, and without the length-collapse test against a
#: version read the old way (see :func:`tracker.target_sync.forget_validators`).
SETTINGS_CHANGED = "settings-changed"


def content_fingerprint(page: PrunedPage, select: tuple[str, ...], context: str) -> str:
    """sha256 of what normalization reads from ``page``.

    Raises :class:`tracker.normalize.NormalizeError` for an invalid ``select`` selector, as
    normalizing would.
    """
    if page.bare and not select:
        # Nothing but what the walk reads is left in a bare tree (see prune_html): its
        # serialization (libxml2's, escaped, so text cannot pass for markup) is exact and
        # takes a third of the time of the walk below.
        digest = hashlib.sha256(_SEPARATOR.join(("bare", context, page.title)).encode(
            "utf-8", "surrogatepass"))
        if page.root is not None:
            digest.update(b"\x00" + lxml.etree.tostring(page.root))
        return digest.hexdigest()
    parts = [context, _SEPARATOR.join(select), page.title]
    if page.root is not None:
        # Elements stay the same Python objects while referenced, so the dict finds them again
        # in the walk below.
        picked: dict[object, str] = {}
        for number, selector in enumerate(select):
            for element in select_matches(page.root, selector):
                picked[element] = picked.get(element, "") + f"[select {number}]"
        append = parts.append
        # Pre-order with each element's number of children pins the tree's shape down:
        # "<div><p>a</p></div>" and "<div></div><p>a</p>" differ.
        for element in page.root.iter():
            append(f"{element.tag}/{len(element)}")
            if element.get("role") == "main":
                append("[role=main]")
            if picked and element in picked:
                append(picked[element])
            append(element.text or "")
            append(element.tail or "")
    digest = hashlib.sha256(_SEPARATOR.join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
