"""Sentence-then-word alignment of two documents: which words really changed, and where.

Block alignment (:mod:`tracker.compare.align`) serves the display. For meaning, the documents
are compared as sequences of sentences on their comparison tokens, so a reflowed paragraph, a
paragraph split in two or merged, a renumbered list, changed case or punctuation and rewritten
link targets all vanish. Sentences that only changed place are *moved*. Inside each edited
stretch a word diff finds the changed tokens; edits are grouped by the sentences they touch,
so each group is one finding's evidence: old sentences, new sentences, changed tokens.

Repeated identical substitutions across the document ("Viber Pay" -> "Viber payment
services" in a dozen places) are a rename, and a rename is not a change of meaning — unless it
touches what carries meaning on its own: e-mail addresses, company names, numbers, negations.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from ..document import HEADING
from .text import PLACEHOLDER_TOKEN, Sentence

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
MOVED = "moved"

#: Above this many token comparisons a region is diffed with difflib's junk heuristic.
_EXACT_LIMIT = 4_000_000
#: A substitution seen this many times is a rename.
_RENAME_COUNT = 3
_MEANINGFUL = {"not", "no", "never", "may", "might", "can", "could", "must", "shall", "will",
               "inc", "llc", "ltd", "limited", "gmbh", "corporation", "corp", "plc", "sell",
               "share", "sold", "without", "only"}


@dataclass(slots=True)
class Group:
    """One connected edit: the sentences it spans on each side and their changed tokens."""

    kind: str
    old: list[Sentence] = field(default_factory=list)
    new: list[Sentence] = field(default_factory=list)
    old_changed: dict[int, set[int]] = field(default_factory=dict)  # sentence -> token indices
    new_changed: dict[int, set[int]] = field(default_factory=dict)

    @property
    def old_text(self) -> str | None:
        return _quoted(self.old)

    @property
    def new_text(self) -> str | None:
        return _quoted(self.new)

    @property
    def section(self) -> tuple[str, ...]:
        """Where the edit is: a group that starts with a heading is in that heading's section."""
        side = self.new or self.old
        if not side:
            return ()
        first = side[0]
        return (*first.section, first.text) if first.kind == HEADING else first.section


def _quoted(sentences: list[Sentence]) -> str | None:
    """The sentences of a side as a quote: a new section's heading names its section instead
    of running into its first sentence ("Partners We share ...")."""
    body = [s for s in sentences if s.kind != HEADING] or sentences
    return " ".join(s.text for s in body) or None


@dataclass(slots=True)
class _Edit:
    old: list[tuple[int, int]]  # (sentence index, token index)
    new: list[tuple[int, int]]
    deleted: str
    inserted: str


def diff_sentences(old: list[Sentence], new: list[Sentence]) -> list[Group]:
    """Groups of real edits between two sentence lists, in document order."""
    old_keys = [s.key for s in old]
    new_keys = [s.key for s in new]
    matcher = SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    regions: list[tuple[list[int], list[int]]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if "".join(old_keys[i1:i2]) == "".join(new_keys[j1:j2]):
            continue  # reflowed, split or merged: same words
        regions.append((list(range(i1, i2)), list(range(j1, j2))))

    groups: list[Group] = []
    # Identical sentences that changed place are moves.
    pool: dict[str, list[int]] = {}
    for olds, _ in regions:
        for i in olds:
            pool.setdefault(old_keys[i], []).append(i)
    moved_old: set[int] = set()
    moved_new: set[int] = set()
    for _, news in regions:
        for j in news:
            candidates = pool.get(new_keys[j])
            if candidates:
                i = candidates.pop(0)
                moved_old.add(i)
                moved_new.add(j)
                groups.append(Group(MOVED, [old[i]], [new[j]]))

    edits: list[_Edit] = []
    links: list[tuple[int, int]] = []
    for olds, news in regions:
        olds = [i for i in olds if i not in moved_old]
        news = [j for j in news if j not in moved_new]
        if not olds and not news:
            continue
        if "".join(old_keys[i] for i in olds) == "".join(new_keys[j] for j in news):
            continue
        _diff_region(old, new, olds, news, edits, links)

    renames = _renames(edits)
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(node: tuple[str, int]) -> tuple[str, int]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(a: tuple[str, int], b: tuple[str, int]) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    for i, j in links:
        union(("o", i), ("n", j))
    changed_old: dict[int, set[int]] = {}
    changed_new: dict[int, set[int]] = {}
    for edit in edits:
        if (edit.deleted, edit.inserted) in renames:
            continue
        nodes = [("o", s) for s, _ in edit.old] + [("n", s) for s, _ in edit.new]
        find(nodes[0])
        for node in nodes[1:]:
            union(nodes[0], node)
        for s, t in edit.old:
            changed_old.setdefault(s, set()).add(t)
        for s, t in edit.new:
            changed_new.setdefault(s, set()).add(t)

    members: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for node in list(parent):
        members.setdefault(find(node), []).append(node)
    for nodes in members.values():
        old_ids = sorted(i for side, i in nodes if side == "o")
        new_ids = sorted(j for side, j in nodes if side == "n")
        if not any(i in changed_old for i in old_ids) and \
                not any(j in changed_new for j in new_ids):
            continue
        kind = CHANGED if old_ids and new_ids else ADDED if new_ids else REMOVED
        groups.append(Group(
            kind, [old[i] for i in old_ids], [new[j] for j in new_ids],
            {i: changed_old.get(i, set()) for i in old_ids},
            {j: changed_new.get(j, set()) for j in new_ids},
        ))
    _moves_across_groups(groups)
    groups.sort(key=lambda g: (g.new[0].index if g.new else -1, g.old[0].index if g.old else -1))
    return groups


def _diff_region(old: list[Sentence], new: list[Sentence], olds: list[int], news: list[int],
                 edits: list[_Edit], links: list[tuple[int, int]]) -> None:
    a: list[str] = []
    a_pos: list[tuple[int, int]] = []
    for i in olds:
        for t, token in enumerate(old[i].tokens):
            a.append(token)
            a_pos.append((i, t))
    b: list[str] = []
    b_pos: list[tuple[int, int]] = []
    for j in news:
        for t, token in enumerate(new[j].tokens):
            b.append(token)
            b_pos.append((j, t))
    matcher = SequenceMatcher(None, a, b, autojunk=len(a) * len(b) > _EXACT_LIMIT)
    shared: Counter[tuple[int, int]] = Counter()
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                shared[(a_pos[i1 + k][0], b_pos[j1 + k][0])] += 1
            continue
        deleted, inserted = a[i1:i2], b[j1:j2]
        if "".join(deleted) == "".join(inserted):
            continue  # "information such" vs "informationsuch": spacing only
        if _placeholder_swap(deleted, inserted):
            continue
        edits.append(_Edit(a_pos[i1:i2], b_pos[j1:j2], " ".join(deleted), " ".join(inserted)))
    for (i, j), count in shared.items():
        smaller = min(len(old[i].tokens), len(new[j].tokens))
        if count >= max(2, 0.3 * smaller) or count == smaller:
            links.append((i, j))


def _placeholder_swap(deleted: list[str], inserted: list[str]) -> bool:
    """An e-mail protection placeholder replaced by an address (or back) is a rendering change."""
    sides = (deleted, inserted)
    for one, other in (sides, sides[::-1]):
        if one == [PLACEHOLDER_TOKEN] and (not other or (len(other) == 1 and "@" in other[0])):
            return True
    return False


def _renames(edits: list[_Edit]) -> set[tuple[str, str]]:
    counts = Counter((e.deleted, e.inserted) for e in edits if e.deleted and e.inserted)
    out: set[tuple[str, str]] = set()
    for (deleted, inserted), count in counts.items():
        if count < _RENAME_COUNT:
            continue
        words = set(deleted.split()) | set(inserted.split())
        if words & _MEANINGFUL or any("@" in w or w.isdigit() for w in words):
            continue
        out.add((deleted, inserted))
    return out


def _moves_across_groups(groups: list[Group]) -> None:
    """An added group whose text was removed elsewhere (or vice versa) is a move."""
    removed = [g for g in groups if g.kind == REMOVED]
    added = [g for g in groups if g.kind == ADDED]
    if not removed or not added:
        return
    removed_text = "|".join("".join(s.key for s in g.old) for g in removed)
    added_text = "|".join("".join(s.key for s in g.new) for g in added)
    for g in added:
        key = "".join(s.key for s in g.new)
        if len(key) >= 12 and key in removed_text:
            g.kind = MOVED
    for g in removed:
        key = "".join(s.key for s in g.old)
        if len(key) >= 12 and key in added_text:
            g.kind = MOVED
