"""Plain text for pipes and logs: aligned columns, with nothing a terminal would obey.

Output that is not going to a terminal is read later, with ``less``, ``grep`` or ``cat``.
Target names and change summaries can quote page content, so control characters (an escape
sequence in a page title could restyle or rewrite a terminal that ``cat``s the log) become
spaces, and every row stays on one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def plain_cell(text: str) -> str:
    """One line of text with control characters (line breaks and tabs included) as spaces."""
    return _CONTROL.sub(" ", text)


def plain_rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """``header`` and ``rows`` as lines of left-aligned columns; the last column is not padded."""
    table = [[plain_cell(cell) for cell in row] for row in (header, *rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)),
                       row[-1]]).rstrip() for row in table]
