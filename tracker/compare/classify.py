"""Decide what an edit means: its categories, change kind, old/new values and severity.

An edit changes meaning when (a) a typed fact differs between its old and new sentences
(retention period, sale polarity, age threshold, contact e-mail, deadline), (b) a negation or a
"may" appears or disappears, or (c) words that carry a category's meaning (data categories,
recipients, purposes, rights ...) were among the changed words. Everything else that differs
is a rewording; page furniture (menu labels, headings alone, codes) is dropped entirely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .extractors.durations import canonical_iso
from .extractors.facts import Facts, extract_facts, polarity
from .findings import ADDED, CHANGED, HIGH, INFO, LOW, MEDIUM, MOVED, REMOVED, REWORDED, Finding
from .lexicons import (
    CHILDREN,
    CONTACT,
    OTHER,
    PURPOSES,
    RETENTION,
    RIGHTS,
    SCOPE_STATEMENT,
    SHARING,
    Hit,
    heading_categories,
    lexicon_hits,
)
from .sentdiff import Group
from .text import PLACEHOLDER_TOKEN, Sentence

#: Evidence needed before a category counts as changed (a value hit plus a topic cue, or a
#: cue backed by the section heading).
_THRESHOLD = 1.75
#: Besides its strongest category a sentence counts for others at least this strong relatively.
_RELATIVE = 0.8
#: Extra evidence when a changed word is a value the other version does not name at all.
_NEW_VALUE_BONUS = 1.0
_HIGH_LABELS = {"ai training", "advertising", "targeted advertising", "profiling", "sale",
                "biometric", "sensitive data"}
_CODE_TOKEN = re.compile(r"^(?=.*\d)(?=.*[a-z])[a-z0-9]{8,}$")
_STOPWORD_TEXT = (
    "a an the and or of to in on at by for with from as is are was were be been being this that "
    "these those it its it's we us our you your they them their he she his her which who whom "
    "what when where how also any all some such other more most very so than then there here "
    "do does did has have had having into about over under up out if but not no nor only own "
    "same too just s t will would should shall can could may might must i me my"
)
#: Function words: a change of only these is a grammar fix, not a change of meaning.
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(slots=True)
class SentenceInfo:
    """Lexicon hits and facts of one sentence, computed once per comparison."""

    hits: list[Hit]
    facts: Facts


class Classifier:
    """Classifies the edit groups of one document pair (caches per-sentence analysis)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], SentenceInfo] = {}

    def info(self, sentence: Sentence) -> SentenceInfo:
        key = (id(sentence), sentence.index)
        found = self._cache.get(key)
        if found is None:
            hits = lexicon_hits(sentence.tokens)
            found = SentenceInfo(hits, extract_facts(sentence.text, sentence.section_title, hits))
            self._cache[key] = found
        return found

    def classify(self, group: Group) -> list[Finding]:
        if group.kind == MOVED:
            return self._moved(group)
        if group.kind in (ADDED, REMOVED):
            return self._added_or_removed(group)
        return self._changed(group)

    # --- moved ----------------------------------------------------------------------------

    def _moved(self, group: Group) -> list[Finding]:
        sentences = [s for s in group.new if not is_furniture(s)]
        if not sentences:
            return []
        category = self._primary(sentences) or OTHER
        return [Finding(category, MOVED, INFO, None, None, group.old_text, group.new_text,
                        _section(group))]

    # --- added / removed ------------------------------------------------------------------

    def _added_or_removed(self, group: Group) -> list[Finding]:
        sentences = group.new if group.kind == ADDED else group.old
        body = [s for s in sentences if not is_furniture(s)]
        if not body:
            return []
        infos = [self.info(s) for s in body]
        hits = [h for i in infos for h in i.hits]
        typed = _merge_typed([i.facts for i in infos])
        chosen: list[str] = list(typed)
        # Each sentence votes for what it is about; a category needs real evidence in one
        # sentence, so a long added section does not collect every category by accident.
        for sentence, info in zip(body, infos, strict=True):
            for category in _votes(_scores(info.hits, [sentence])):
                if category not in chosen:
                    chosen.append(category)
        scores = _scores(hits, body)
        words = sum(len(s.tokens) for s in body)
        if not chosen:
            best = max(scores, key=lambda c: scores[c]) if scores else None
            if best is None or words < 8 or scores[best] < 1.0:
                if words < 8:
                    return []
                return [Finding(best or OTHER, group.kind, INFO, None, None, group.old_text,
                                group.new_text, _section(group))]
            chosen = [best]
        findings = []
        for category in chosen:
            labels = sorted({h.label for h in hits if h.category == category and h.is_value})
            value = typed.get(category, labels or None)
            severity = _severity(category, group.kind, value, labels)
            old, new = (None, value) if group.kind == ADDED else (value, None)
            findings.append(Finding(category, group.kind, severity, old, new, group.old_text,
                                    group.new_text, _section(group)))
        return findings

    # --- changed --------------------------------------------------------------------------

    def _changed(self, group: Group) -> list[Finding]:
        if all(is_furniture(s) for s in group.old + group.new):
            return []
        section = _section(group)
        flip = _polarity_flip(group)
        if not flip and not _content_changed(group):
            return []  # only function words changed: a grammar or spelling fix
        old_infos = [self.info(s) for s in group.old]
        new_infos = [self.info(s) for s in group.new]
        old_typed = _merge_typed([i.facts for i in old_infos])
        new_typed = _merge_typed([i.facts for i in new_infos])

        old_labels = _labels([h for i in old_infos for h in i.hits])
        new_labels = _labels([h for i in new_infos for h in i.hits])
        changed_hits: list[Hit] = []
        votes: list[str] = []
        for sentences, infos, changed, other in (
                (group.old, old_infos, group.old_changed, new_labels),
                (group.new, new_infos, group.new_changed, old_labels)):
            for sentence, info in zip(sentences, infos, strict=True):
                positions = changed.get(sentence.index, set())
                hits = [h for h in info.hits
                        if any(p in positions for p in range(h.start, h.end))]
                changed_hits.extend(hits)
                scores = _scores(hits, [sentence])
                primary = self._primary([sentence])
                if primary in scores:
                    scores[primary] += 1.0  # the change touches what the sentence is about
                for hit in hits:
                    if hit.is_value and hit.label not in other.get(hit.category, ()):
                        # A value that only one side names ("credentials" added to a list).
                        scores[hit.category] += _NEW_VALUE_BONUS
                        break
                votes.extend(c for c in _votes(scores) if c not in votes)
        touched = {h.category for h in changed_hits}
        primary = self._primary(group.new or group.old)

        findings: list[Finding] = []
        seen: set[str] = set()
        for category in dict.fromkeys([*old_typed, *new_typed]):
            before, after = old_typed.get(category), new_typed.get(category)
            if _same_value(category, before, after, group, category in touched):
                continue
            severity = HIGH if category in (RETENTION, SHARING, CHILDREN) else MEDIUM
            findings.append(Finding(category, CHANGED, severity, before, after, group.old_text,
                                    group.new_text, section))
            seen.add(category)

        for category in votes:
            if category in seen:
                continue
            before = sorted(old_labels.get(category, ())) or None
            after = sorted(new_labels.get(category, ())) or None
            added = set(after or ()) - set(before or ())
            severity = HIGH if added & _HIGH_LABELS else MEDIUM
            findings.append(Finding(category, CHANGED, severity, before, after, group.old_text,
                                    group.new_text, section))
            seen.add(category)

        if OTHER not in seen and _scope_changed(group):
            findings.append(Finding(OTHER, CHANGED, MEDIUM, None, None, group.old_text,
                                    group.new_text, section))
            seen.add(OTHER)

        if flip:
            category = self._primary(group.new or group.old) or OTHER
            if category not in seen:
                findings.append(Finding(category, CHANGED, HIGH, None, None, group.old_text,
                                        group.new_text, section))
                seen.add(category)
            else:
                for f in findings:
                    if f.category == category:
                        f.severity = HIGH

        if not findings and primary and _entity_changed(group):
            # One named party, address or number replaced by another ("contact NAM" ->
            # "contact JAMS"): who does what changed, even if no category word did.
            category = CONTACT if _contact_context(group) else primary or OTHER
            findings.append(Finding(category, CHANGED, MEDIUM, None, None, group.old_text,
                                    group.new_text, section))
        if not findings:
            findings.append(Finding(primary or OTHER, REWORDED, INFO, None, None,
                                    group.old_text, group.new_text, section))
        return findings

    def _primary(self, sentences: list[Sentence]) -> str | None:
        """The category sentences are mostly about: their hits, backed by the heading."""
        if not sentences:
            return None
        hits = [h for s in sentences for h in self.info(s).hits]
        scores = _scores(hits, sentences)
        heading = heading_categories(sentences[0].section)
        if heading and heading[0] not in scores:
            scores[heading[0]] = 1.5
        return max(scores, key=lambda c: scores[c]) if scores else None


def is_furniture(sentence: Sentence) -> bool:
    """Page furniture: headings, menu labels, link lists, codes — never a change of meaning."""
    if sentence.kind == "heading":
        return True
    tokens = sentence.tokens
    if all(_CODE_TOKEN.match(t) or t.isdigit() for t in tokens):
        return True
    text = sentence.text.rstrip(" *_")
    return len(tokens) <= 6 and not text.endswith((".", ";", ":", "!", "?")) and \
        not any("@" in t for t in tokens)


def _votes(scores: dict[str, float]) -> list[str]:
    """The categories a sentence is about: the strongest, and any nearly as strong."""
    if not scores:
        return []
    top = max(scores.values())
    if top < _THRESHOLD:
        return []
    floor = max(_THRESHOLD, _RELATIVE * top)
    return [c for c, score in sorted(scores.items(), key=lambda kv: -kv[1]) if score >= floor]


def _scores(hits: list[Hit], sentences: list[Sentence]) -> dict[str, float]:
    """Evidence per category: hit weights, plus a bonus when the section heading agrees.

    Overlapping hits of one category ("targeted advertising" and "advertising") count once.
    """
    scores: dict[str, float] = {}
    covered: dict[str, set[int]] = {}
    for hit in sorted(hits, key=lambda h: (h.start - h.end, -h.weight)):
        span = set(range(hit.start, hit.end))
        taken = covered.setdefault(hit.category, set())
        if span & taken:
            continue
        taken |= span
        scores[hit.category] = scores.get(hit.category, 0.0) + hit.weight
    if sentences:
        for rank, category in enumerate(heading_categories(sentences[0].section)):
            if category in scores:
                scores[category] += 1.5 if rank == 0 else 0.75
    return scores


def _labels(hits: list[Hit]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for hit in hits:
        if hit.is_value:
            out.setdefault(hit.category, set()).add(hit.label)
    return out


def _merge_typed(facts: list[Facts]) -> dict[str, object]:
    merged: dict[str, list] = {}
    for f in facts:
        for category, value in f.typed().items():
            values = value if isinstance(value, list) else [value]
            bucket = merged.setdefault(category, [])
            bucket.extend(v for v in values if v not in bucket)
    return {c: (v[0] if len(v) == 1 else sorted(v, key=str)) for c, v in merged.items()}


def _same_value(category: str, before: object, after: object, group: Group,
                touched: bool) -> bool:
    if before == after:
        return True
    if _as_set(before) == _as_set(after):
        return True
    if category == CONTACT:
        placeholder = any(PLACEHOLDER_TOKEN in s.tokens for s in group.old + group.new)
        if placeholder:
            return True
    if before is None or after is None:
        # A fact on one side only ("as long necessary" -> "as long as necessary"): a change
        # only when the changed words themselves are about this category.
        return not touched
    return False


def _as_set(value: object) -> set:
    """Values as a set, durations in their comparable form ("P12M" and "P1Y" are equal)."""
    values = value if isinstance(value, list) else [] if value is None else [value]
    return {canonical_iso(v) if isinstance(v, str) else v for v in values}


def _polarity_flip(group: Group) -> bool:
    old_tokens = [t for s in group.old for t in s.tokens]
    new_tokens = [t for s in group.new for t in s.tokens]
    changed = {s.tokens[i] for s in group.old for i in group.old_changed.get(s.index, ())} | \
              {s.tokens[i] for s in group.new for i in group.new_changed.get(s.index, ())}
    if not changed & {"not", "no", "never", "without", "may", "might", "can", "could", "nor"}:
        return False
    return polarity(old_tokens) != polarity(new_tokens)


_CONTACT_WORDS = re.compile(r"\b(?:contact\w*|write|writing|mail|address|call|phone|"
                            r"representative|officer|dpo|headquarters|registered)\b", re.I)


def _contact_context(group: Group) -> bool:
    sentences = group.new or group.old
    text = " ".join(s.text for s in sentences) + " " + (sentences[0].section_title
                                                        if sentences else "")
    return bool(_CONTACT_WORDS.search(text))


def _changed_tokens(sentences: list[Sentence], changed: dict[int, set[int]]) -> list[str]:
    return [s.tokens[i] for s in sentences for i in sorted(changed.get(s.index, ()))]


def _entity_changed(group: Group) -> bool:
    """A name or number on one side replaced by a different name or number on the other."""
    old_names = frozenset().union(*(s.names for s in group.old))
    new_names = frozenset().union(*(s.names for s in group.new))
    deleted = _changed_tokens(group.old, group.old_changed)
    inserted = _changed_tokens(group.new, group.new_changed)

    def entities(tokens: list[str], names: frozenset[str]) -> set[str]:
        return {t for t in tokens if t in names or (t.isdigit() and len(t) >= 2) or "@" in t}

    before, after = entities(deleted, old_names), entities(inserted, new_names)
    return bool(before and after and before != after)


def _scope_changed(group: Group) -> bool:
    """A "this policy applies to ..." sentence whose content words changed."""
    for sentences, changed in ((group.old, group.old_changed), (group.new, group.new_changed)):
        for s in sentences:
            if not SCOPE_STATEMENT.search(" ".join(s.tokens)):
                continue
            words = [s.tokens[i] for i in changed.get(s.index, ())]
            if sum(w not in _STOPWORDS for w in words) >= 2:
                return True
    return False


def _content_changed(group: Group) -> bool:
    for sentences, changed in ((group.old, group.old_changed), (group.new, group.new_changed)):
        for s in sentences:
            for i in changed.get(s.index, ()):
                if s.tokens[i] not in _STOPWORDS:
                    return True
    return False


def _severity(category: str, kind: str, value: object, labels: list[str]) -> str:
    if category in (RETENTION, CHILDREN) and value:
        return HIGH
    if category == SHARING and (value in ("may sell", "sells") or "sale" in labels):
        return HIGH
    if category == PURPOSES and set(labels) & _HIGH_LABELS and kind == ADDED:
        return HIGH
    if category == RIGHTS and kind == REMOVED:
        return HIGH
    return MEDIUM if value else LOW


def _section(group: Group) -> str:
    section = group.section
    return section[-1] if section else ""
