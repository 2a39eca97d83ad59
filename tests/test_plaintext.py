"""Plain output for pipes and logs."""

from __future__ import annotations

from tracker.plaintext import plain_cell, plain_rows


def test_rows_align_and_the_last_column_is_not_padded() -> None:
    lines = plain_rows(("target", "result", "detail"),
                       [("a", "first_version", "first version"), ("longer-name", "failed", "")])
    assert lines == ["target       result         detail",
                     "a            first_version  first version",
                     "longer-name  failed"]


def test_control_characters_from_page_content_cannot_reach_a_terminal() -> None:
    hostile = "Policy\x1b]0;owned\x07\x1b[2J\r\nnext line\tand\u2028more"
    assert plain_cell(hostile) == "Policy ]0;owned  [2J  next line and more"
    (line,) = plain_rows(("x",), [])  # a header alone
    assert line == "x"
    lines = plain_rows(("t", "d"), [("name\n2", hostile)])
    assert len(lines) == 2 and all("\x1b" not in line and "\n" not in line for line in lines)
