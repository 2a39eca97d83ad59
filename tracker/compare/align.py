"""Align the blocks of two documents so only real edits remain.

Blocks are matched on their comparison keys (typography, spacing and list numbering already
folded away): first an in-order longest-common-subsequence match, then identical blocks that
changed place are paired as *moved*, then the remaining blocks in each edited region are paired
by similarity as *changed*. What is left is *added* or *removed*. A paragraph split in two or
two merged into one, with the same words, counts as unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from ..document import Block, Document

EQUAL = "equal"
CHANGED = "changed"
ADDED = "added"
REMOVED = "removed"
MOVED = "moved"

#: Two blocks in the same edited region with at least this similarity are one edited block.
PAIR_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class BlockPair:
    """One step of the alignment: an old block, a new block, or both, and what happened."""

    op: str
    old: Block | None
    new: Block | None

    @property
    def section(self) -> tuple[str, ...]:
        block = self.new or self.old
        return block.section if block else ()


def similarity(a: str, b: str) -> float:
    """Word-level similarity in [0, 1] (cheap upper bounds first: this runs in loops)."""
    wa, wb = a.split(), b.split()
    if not wa or not wb:
        return 0.0
    matcher = SequenceMatcher(None, wa, wb, autojunk=False)
    if matcher.real_quick_ratio() < PAIR_THRESHOLD or matcher.quick_ratio() < PAIR_THRESHOLD:
        return matcher.quick_ratio()
    return matcher.ratio()


def align(old: Document, new: Document) -> list[BlockPair]:
    """Align two documents; the result follows the new document's order, removals in place."""
    old_blocks, new_blocks = old.blocks, new.blocks
    old_keys = [b.key for b in old_blocks]
    new_keys = [b.key for b in new_blocks]
    if old_keys == new_keys:
        return [BlockPair(EQUAL, o, n) for o, n in zip(old_blocks, new_blocks, strict=True)]
    matcher = SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    regions: list[tuple[str, list[int], list[int]]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        regions.append((tag, list(range(i1, i2)), list(range(j1, j2))))

    unmatched_old: dict[str, list[int]] = {}
    for tag, olds, _ in regions:
        if tag != "equal":
            for i in olds:
                unmatched_old.setdefault(old_keys[i], []).append(i)
    moved_old: dict[int, int] = {}  # new index -> old index
    for tag, _, news in regions:
        if tag == "equal":
            continue
        for j in news:
            candidates = unmatched_old.get(new_keys[j])
            if candidates:
                moved_old[j] = candidates.pop(0)
    moved_old_set = set(moved_old.values())

    pairs: list[BlockPair] = []
    for tag, olds, news in regions:
        if tag == "equal":
            pairs.extend(BlockPair(EQUAL, old_blocks[i], new_blocks[j])
                         for i, j in zip(olds, news, strict=True))
            continue
        rest_old = [i for i in olds if i not in moved_old_set]
        rest_new = [j for j in news if j not in moved_old]
        if _same_words(rest_old, rest_new, old_keys, new_keys):
            # Reflowed: report the new blocks as unchanged, the old ones vanish silently.
            pairs.extend(BlockPair(MOVED, old_blocks[moved_old[j]], new_blocks[j])
                         if j in moved_old else BlockPair(EQUAL, None, new_blocks[j])
                         for j in news)
            continue
        added = set(rest_new)
        paired = _pair_in_order(rest_old, rest_new, old_keys, new_keys)
        paired_old = {i for i, _ in paired.values()}
        emitted_old: set[int] = set()
        for j in news:
            if j in moved_old:
                pairs.append(BlockPair(MOVED, old_blocks[moved_old[j]], new_blocks[j]))
            elif j in paired:
                i, _ = paired[j]
                # Removals that precede the paired old block keep their place.
                for k in rest_old:
                    if k < i and k not in paired_old and k not in emitted_old:
                        pairs.append(BlockPair(REMOVED, old_blocks[k], None))
                        emitted_old.add(k)
                pairs.append(BlockPair(CHANGED, old_blocks[i], new_blocks[j]))
                emitted_old.add(i)
            elif j in added:
                pairs.append(BlockPair(ADDED, None, new_blocks[j]))
        for k in rest_old:
            if k not in emitted_old and k not in paired_old:
                pairs.append(BlockPair(REMOVED, old_blocks[k], None))
    return pairs


def _same_words(olds: list[int], news: list[int], old_keys: list[str],
                new_keys: list[str]) -> bool:
    """A reflow: the same words split across a different number of blocks."""
    if not olds or not news or len(olds) == len(news) == 1:
        return False
    return " ".join(old_keys[i] for i in olds).split() == \
        " ".join(new_keys[j] for j in news).split()


def _pair_in_order(olds: list[int], news: list[int], old_keys: list[str],
                   new_keys: list[str]) -> dict[int, tuple[int, float]]:
    """Pair edited blocks greedily by similarity, never crossing an earlier pairing."""
    result: dict[int, tuple[int, float]] = {}
    if not olds or not news:
        return result
    if len(olds) == len(news) == 1:
        score = similarity(old_keys[olds[0]], new_keys[news[0]])
        if score >= PAIR_THRESHOLD * 0.6:
            result[news[0]] = (olds[0], score)
        return result
    start = 0
    for j in news:
        best, best_score = None, PAIR_THRESHOLD
        for position in range(start, len(olds)):
            score = similarity(old_keys[olds[position]], new_keys[j])
            if score >= best_score:
                best, best_score = position, score
        if best is not None:
            result[j] = (olds[best], best_score)
            start = best + 1
    return result
