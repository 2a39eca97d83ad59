"""Sentence and word alignment: moves, reflows, splits, merges and renames."""

from __future__ import annotations

from tracker.compare.sentdiff import diff_sentences
from tracker.compare.text import sentences_of
from tracker.normalize import parse_markdown


def groups(old: str, new: str):
    return diff_sentences(sentences_of(parse_markdown(old)), sentences_of(parse_markdown(new)))


def test_split_and_merged_paragraphs_are_no_change() -> None:
    old = "# A\n\nWe collect data. We use it to run the service. We delete it later.\n"
    new = "# A\n\nWe collect data.\n\nWe use it to run the service.\n\nWe delete it later.\n"
    assert groups(old, new) == []
    assert groups(new, old) == []


def test_moved_sentence() -> None:
    old = "# A\n\nFirst clause here.\n\nSecond clause here.\n\n# B\n\nThird clause here.\n"
    new = "# A\n\nSecond clause here.\n\n# B\n\nThird clause here.\n\nFirst clause here.\n"
    result = groups(old, new)
    assert [g.kind for g in result] == ["moved"]
    assert result[0].new_text == "First clause here."


def test_changed_words_are_located() -> None:
    old = "# A\n\nWe keep logs for 12 months. We never sell data.\n"
    new = "# A\n\nWe keep logs for 24 months. We never sell data.\n"
    (group,) = groups(old, new)
    assert group.kind == "changed"
    assert group.old_text == "We keep logs for 12 months."
    changed = [group.new[0].tokens[i] for i in sorted(group.new_changed[group.new[0].index])]
    assert changed == ["24"]


def test_added_and_removed_sentences() -> None:
    old = "# A\n\nAlpha beta gamma delta.\n\nOld clause about things.\n"
    new = "# A\n\nAlpha beta gamma delta.\n\nEntirely different words appear now.\n"
    kinds = sorted(g.kind for g in groups(old, new))
    assert kinds in (["changed"], ["added", "removed"])
    assert all(g.kind != "moved" for g in groups(old, new))


def test_repeated_rename_is_not_an_edit() -> None:
    lines = ["Use Acme Pay to pay.", "Acme Pay keeps records.", "Acme Pay is optional.",
             "We review Acme Pay yearly."]
    old = "# A\n\n" + "\n\n".join(lines) + "\n"
    new = old.replace("Acme Pay", "Acme payment services")
    assert groups(old, new) == []
    # ... but a renamed e-mail address is an edit every time.
    mail_old = "# A\n\n" + "\n\n".join(f"Write {i} to a@x.com." for i in range(4)) + "\n"
    assert len(groups(mail_old, mail_old.replace("a@x.com", "b@x.com"))) == 4
