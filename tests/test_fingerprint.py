"""The content fingerprint: equal fingerprints must mean equal normalized text.

A check that finds the fingerprint unchanged records nothing, so a fingerprint that stayed the
same while the normalized text changed would lose a version. These tests pin down both
directions: rotating chrome never changes it, and every kind of content edit does.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from tests.test_normalize import page
from tracker.fingerprint import content_fingerprint
from tracker.normalize import document_from_pruned, normalize_html, prune_html


def fingerprint(html: str, select: tuple[str, ...] = (), bare: bool | None = None) -> str | None:
    """As a check takes it: on a bare tree (attributes gone) when there are no selectors."""
    pruned = prune_html(html, bare=not select if bare is None else bare)
    return content_fingerprint(pruned, select, "ctx")


def test_rotating_chrome_keeps_the_fingerprint() -> None:
    # Session tokens in scripts and links, a consent banner showing a visitor id, a promo:
    # all dropped by pruning, so none of them counts.
    first = fingerprint(page("tok1", 2024, "50% off"))
    assert first is not None
    assert fingerprint(page("zzz999", 2024, "free shipping")) == first


def test_a_miss_is_only_a_slower_path() -> None:
    # The walker drops copyright lines as it emits blocks, after the fingerprint is taken: a
    # new year misses the fingerprint, and the check then finds the same text the slow way.
    old, new = page(year=2024), page(year=2025)
    assert fingerprint(old) != fingerprint(new)
    assert normalize_html(old).to_text() == normalize_html(new).to_text()


EDITS = {
    "text": ("Usage data", "Usage details"),
    "heading level": ("<h2>Retention</h2>", "<h3>Retention</h3>"),
    "block split": ("We collect your", "We collect</p><p>your"),
    "inline to block": ("<time>May 24, 2018</time>", "<div>May 24, 2018</div>"),
    "nesting": ("<li>IP address</li></ul></li></ul>", "</ul></li><li>IP address</li></ul>"),
    "table cell": ("<td>12 months</td>", "<td>18 months</td>"),
    "title": ("<title>Privacy | Example</title>", "<title>Privacy | Other</title>"),
    "whitespace only": ("and   name.", "and name."),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_content_edits_change_the_fingerprint(edit: str) -> None:
    before, after = EDITS[edit]
    original = page()
    assert before in original
    assert fingerprint(original.replace(before, after)) != fingerprint(original)


def test_nesting_is_part_of_the_fingerprint() -> None:
    # Same tags, texts and tails in the same order; only the tree's shape differs.
    inside = "<main><div><p>Logs are kept for a year.</p></div></main>"
    after = "<main><div></div><p>Logs are kept for a year.</p></main>"
    assert fingerprint(inside) != fingerprint(after)


@pytest.mark.parametrize("bare", [True, False], ids=["bare", "walked"])
def test_role_main_counts(bare: bool) -> None:
    # Content detection follows role="main", so moving it must change the fingerprint (on a
    # bare tree too, where it is the one attribute kept, other classes alike or not).
    body = "<div {a}><p>Short teaser text here.</p></div><div {b}><p>{long}</p></div>"
    text = "We keep server logs for twelve months and then delete them. " * 5
    role = 'role="main" class="c"'
    one = "<body>" + body.format(a=role, b="class='c'", long=text) + "</body>"
    two = "<body>" + body.format(a="class='c'", b=role, long=text) + "</body>"
    assert fingerprint(one, bare=bare) != fingerprint(two, bare=bare)


def test_same_fingerprint_means_same_text_across_many_variants() -> None:
    # Every combination of chrome changes and content edits: whenever two variants share a
    # fingerprint, their normalized texts must be identical.
    variants = []
    for token, promo, edit in itertools.product(["a1", "b2"], ["sale", "gift"],
                                                [None, *EDITS]):
        html = page(token, promo=promo)
        if edit is not None:
            html = html.replace(*EDITS[edit])
        variants.append(html)
    seen: dict[str, str] = {}
    for html in variants:
        key = fingerprint(html)
        assert key is not None
        text = normalize_html(html).to_text()
        assert seen.setdefault(key, text) == text
    assert len(seen) == len(EDITS) + 1  # chrome never split a variant, every edit did


SWAPPED_CLASSES = (
    "<main><div class='policy'><p>We keep server logs for a year.</p></div>"
    "<div class='{other}'><p>We sell your personal information to data brokers.</p></div>"
    "<div class='{third}'><p>Contact our privacy team at any time.</p></div></main>")


@pytest.mark.parametrize("select", [(".policy",), ("div.policy",), ("[class=policy]",),
                                    ("main > .policy", "p"), ("p", ".policy")])
def test_what_the_selectors_pick_is_part_of_the_fingerprint(select: tuple[str, ...]) -> None:
    # Only a class moves: tags, texts and tails stay, and so would a fingerprint that left
    # the selection out. The selected text changes, so the fingerprint must too.
    before = "<body>" + SWAPPED_CLASSES.format(other="other", third="note") + "</body>"
    after = "<body>" + SWAPPED_CLASSES.replace("'policy'", "'note'").format(
        other="other", third="policy") + "</body>"
    texts = [normalize_html(html, list(select)).to_text() for html in (before, after)]
    assert texts[0] != texts[1]
    assert fingerprint(before, select) != fingerprint(after, select)


def test_selector_order_is_part_of_the_fingerprint() -> None:
    html = "<body>" + SWAPPED_CLASSES.format(other="other", third="note") + "</body>"
    assert fingerprint(html, (".policy", ".note")) != fingerprint(html, (".note", ".policy"))


def test_attributes_the_selectors_do_not_pick_by_leave_the_fingerprint_alone() -> None:
    one = "<body>" + SWAPPED_CLASSES.format(other="other", third="note") + "</body>"
    two = one.replace("'other'", "'other wide'").replace("<p>", "<p data-t='9'>")
    assert normalize_html(one, [".policy"]).to_text() == normalize_html(two, [".policy"]).to_text()
    assert fingerprint(one, (".policy",)) == fingerprint(two, (".policy",))


def test_select_and_document_from_the_same_pruned_tree() -> None:
    pruned = prune_html(page(), ["table"])
    assert "12 months" not in document_from_pruned(pruned).to_text()
    assert document_from_pruned(pruned, ["main"]).to_text() == \
        normalize_html(page(), ["main"], ["table"]).to_text()


@pytest.mark.parametrize("bare", [True, False], ids=["bare", "walked"])
def test_both_ways_of_taking_it_see_every_edit(bare: bool) -> None:
    # The bare tree's serialization and the walk over an intact tree: two ways, one guarantee.
    original = page()
    keys = {fingerprint(original.replace(*EDITS[edit]), bare=bare) for edit in EDITS}
    assert len(keys | {fingerprint(original, bare=bare)}) == len(EDITS) + 1
    assert fingerprint(page("other-token", promo="gift"), bare=bare) == \
        fingerprint(original, bare=bare)


def test_a_bare_tree_reads_as_the_intact_one() -> None:
    # Only attributes go, and the walk reads none but role="main": the same blocks either way.
    demo = sorted((Path(__file__).parent.parent / "tracker" / "demo_pages").glob("*.html"))
    role = ("<body><div role='main' class='x'><h1 id='t'>Policy</h1><p style='color:red'>"
            "We keep logs for a year.</p><footer>Updated May 2024</footer></div>"
            "<div class='side'><p>Other text here.</p></div></body>")
    for html in [page(), page("t2", promo="gift"), SWAPPED_CLASSES.format(
            other="cookie-banner", third="note"), role,
            *(path.read_text(encoding="utf-8") for path in demo)]:
        intact, bare = prune_html(html), prune_html(html, bare=True)
        assert document_from_pruned(bare) == document_from_pruned(intact)
        assert document_from_pruned(bare).to_text() == normalize_html(html).to_text()
        assert all(set(el.keys()) <= {"role"} for el in bare.root.iter())



_TAGS = ["p", "div", "section", "ul", "ol", "li", "h2", "h3", "span", "a", "b", "table", "tr",
         "td", "br", "nav", "footer", "header", "main", "article", "aside", "script",
         "blockquote", "dl", "dt", "dd", "pre", "em"]
_ATTRS = ["", ' class="cookie-banner"', ' class="policy"', ' role="main"', " hidden",
          ' style="display:none"', ' id="x"', ' role="navigation"', ' aria-hidden="true"']
_TEXTS = ["Some text.", "We keep logs 12 months.", " ", "\n", "Copyright 2024", "Back to top",
          "tail words here"]


def _random_body(rng: random.Random, depth: int = 0) -> str:
    parts = []
    for _ in range(rng.randint(0, 4)):
        if rng.random() < 0.4 or depth > 4:
            parts.append(rng.choice(_TEXTS))
        else:
            tag = rng.choice(_TAGS)
            parts.append(f"<{tag}{rng.choice(_ATTRS)}>{_random_body(rng, depth + 1)}</{tag}>")
    return "".join(parts)


def test_random_trees_keep_the_guarantee_and_read_the_same_bare() -> None:
    # Thousands of random trees of blocks, inline elements, chrome and loose text: a bare
    # tree reads as the intact one, and equal fingerprints (either way) mean equal text.
    rng = random.Random(7)
    seen: dict[tuple[bool, str], str] = {}
    for _ in range(1500):
        html = f"<html><head><title>T</title></head><body>{_random_body(rng)}</body></html>"
        text = normalize_html(html).to_text()
        assert document_from_pruned(prune_html(html, bare=True)).to_text() == text, html
        for bare in (True, False):
            key = fingerprint(html, bare=bare)
            assert seen.setdefault((bare, key or ""), text) == text, html
