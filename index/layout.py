"""From OCR'd text boxes to paragraphs in reading order: pure functions on boxes.

An OCR engine returns pieces of text with their boxes, in no useful order. A page is read
as a person reads it (rules cited in the code as "rule n"):

1. **Bands.** Boxes whose middle parts overlap vertically belong to one band (a line, or
   lines of two columns that sit side by side); bands run top to bottom.
2. **Groups.** Consecutive bands that leave a common vertical gap free (a column gutter,
   ``GUTTER`` line heights wide) form one group; a line across the whole page (a title)
   ends a group. A gap at the page's left edge counts only when it is wide (a column that
   has ended), not when it is a paragraph's indent.
3. **Columns.** A group of more than one row with a gap between its boxes is cut there into
   columns, read left to right, each read again from rule 1 (a column can hold a table).
4. **Rows.** Otherwise the group's boxes are rows, top to bottom; the boxes of a row join
   left to right (with a space where they stand apart).
5. **Paragraphs.** A row starts a new paragraph when it is indented, when the row before
   stopped short of the column's right edge, or after a blank of more than ``PARAGRAPH_GAP``
   line heights; rows of one paragraph join without a break (Chinese needs no space).

Lengths are in units of the median box height (about one character), so the rules do not
depend on the resolution of the page.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Rule 1: only the middle of a box counts for bands, so tightly set lines stay apart
# (detection boxes are padded by about a fifth of their height on each side).
BAND_CORE = 0.3
# Rule 2: a column gutter is at least this many line heights wide; body text never has
# such a gap inside a line (words are not spaced in Chinese).
GUTTER = 1.5
# Rule 2: a gap at the page's left edge is a column that has ended when it is this share
# of the width; narrower, it is an indent or a centred title.
OPEN_LEFT_SHARE = 0.25
# Rule 4: boxes of a row further apart than this many line heights are joined with a space.
SPACED = 0.6
# Rule 5: an indent of at least this many line heights starts a paragraph (Chinese indents
# two characters); a row ending this far before the right edge ends one.
INDENT = 1.0
SHORT_LINE = 1.5
# Rule 5: a blank between rows of more than this many line heights separates paragraphs
# (ordinary line spacing leaves 0.3–0.8).
PARAGRAPH_GAP = 1.2


@dataclass(frozen=True)
class Box:
    """A piece of recognized text and where it is on the page (pixels, y down)."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    score: float = 1.0  # the recognizer's confidence, 0–1

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def middle(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class Row:
    """One line of text (rule 4) and the edges of the column it was read in."""

    boxes: tuple[Box, ...]
    left: float  # the column's left and right edges (rule 5 measures indents against them)
    right: float

    @property
    def x0(self) -> float:
        return min(b.x0 for b in self.boxes)

    @property
    def x1(self) -> float:
        return max(b.x1 for b in self.boxes)

    @property
    def y0(self) -> float:
        return min(b.y0 for b in self.boxes)

    @property
    def y1(self) -> float:
        return max(b.y1 for b in self.boxes)

    def text(self, unit: float) -> str:
        """The boxes' text left to right, a space between boxes that stand apart."""
        parts = [self.boxes[0].text]
        for before, box in zip(self.boxes, self.boxes[1:]):
            parts.append((" " if box.x0 - before.x1 > SPACED * unit else "") + box.text)
        return "".join(parts)


def line_unit(boxes: Sequence[Box]) -> float:
    """The median box height: the length unit of every rule (1.0 for no boxes)."""
    heights = [b.height for b in boxes if b.height > 0]
    return statistics.median(heights) if heights else 1.0


def reading_order(boxes: Sequence[Box]) -> list[Row]:
    """The rows of a page in reading order (rules 1–4)."""
    boxes = [b for b in boxes if b.text.strip()]
    return _read(boxes, line_unit(boxes))


def paragraphs(boxes: Sequence[Box]) -> list[str]:
    """The text of a page as paragraphs in reading order (rules 1–5)."""
    boxes = [b for b in boxes if b.text.strip()]
    unit = line_unit(boxes)
    found: list[list[str]] = []
    previous: Row | None = None
    for row in _read(boxes, unit):
        if previous is None or _starts_paragraph(previous, row, unit):
            found.append([])
        found[-1].append(row.text(unit))
        previous = row
    return [_join_lines(lines) for lines in found]


def _starts_paragraph(previous: Row, row: Row, unit: float) -> bool:
    indented = row.x0 - row.left >= INDENT * unit
    stopped_short = previous.right - previous.x1 >= SHORT_LINE * unit
    same_column = previous.left == row.left and previous.right == row.right
    blank = same_column and row.y0 - previous.y1 > PARAGRAPH_GAP * unit
    return indented or stopped_short or blank


def _join_lines(lines: list[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        # Latin words broken across lines keep a space; Chinese and numbers join directly.
        text += (" " if _latin_letter(text[-1:]) and _latin_letter(line[:1]) else "") + line
    return text


def _latin_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _read(boxes: list[Box], unit: float) -> list[Row]:
    if not boxes:
        return []
    left, right = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
    rows: list[Row] = []
    for group in _groups(_bands(boxes, unit), left, right, unit):
        members = [b for band in group for b in band]
        group_rows = _rows(members, left, right, unit)
        columns = _columns(members, unit) if len(group_rows) > 1 else []
        if len(columns) > 1:  # rule 3
            for column in columns:
                rows.extend(_read(column, unit))
        else:  # rule 4
            rows.extend(group_rows)
    return rows


def _bands(boxes: list[Box], unit: float) -> list[list[Box]]:
    """Rule 1: boxes whose middle parts overlap vertically, top to bottom."""
    bands: list[list[Box]] = []
    bottom = float("-inf")
    for box in sorted(boxes, key=lambda b: b.middle):
        core = BAND_CORE * min(box.height, unit)
        if bands and box.middle - core <= bottom:
            bands[-1].append(box)
        else:
            bands.append([box])
        bottom = max(bottom, box.middle + core) if len(bands[-1]) > 1 else box.middle + core
    return bands


def _groups(bands: list[list[Box]], left: float, right: float, unit: float) -> list[list[list[Box]]]:
    """Rule 2: consecutive bands sharing a free vertical gap at least ``GUTTER`` wide."""
    groups: list[list[list[Box]]] = []
    shared: list[tuple[float, float]] = []
    for band in bands:
        gaps = _free_gaps(band, left, right, unit)
        common = _intersect(shared, gaps, GUTTER * unit) if groups else []
        if groups and common:
            groups[-1].append(band)
            shared = common
        else:
            groups.append([band])
            shared = gaps
    return groups


def _free_gaps(band: list[Box], left: float, right: float, unit: float) -> list[tuple[float, float]]:
    """Spans of [left, right] no box of the band covers, wide enough to be a gutter."""
    gaps = []
    edge = left
    for box in sorted(band, key=lambda b: b.x0):
        if box.x0 - edge >= GUTTER * unit:
            gaps.append((edge, box.x0))
        edge = max(edge, box.x1)
    if right - edge >= GUTTER * unit:
        gaps.append((edge, right))
    # An indent or a centred title leaves a gap at the left edge too: only a wide one counts.
    return [(a, b) for a, b in gaps if a > left or b - a >= OPEN_LEFT_SHARE * (right - left)]


def _intersect(
    first: list[tuple[float, float]], second: list[tuple[float, float]], minimum: float
) -> list[tuple[float, float]]:
    return [(max(a0, b0), min(a1, b1)) for a0, a1 in first for b0, b1 in second if min(a1, b1) - max(a0, b0) >= minimum]


def _columns(boxes: list[Box], unit: float) -> list[list[Box]]:
    """Rule 3: the boxes cut at every gap of at least ``GUTTER`` between them, left to right."""
    columns: list[list[Box]] = []
    edge = float("-inf")
    for box in sorted(boxes, key=lambda b: b.x0):
        if columns and box.x0 - edge < GUTTER * unit:
            columns[-1].append(box)
        else:
            columns.append([box])
        edge = max(edge, box.x1) if len(columns[-1]) > 1 else box.x1
    return columns


def _rows(boxes: list[Box], left: float, right: float, unit: float) -> list[Row]:
    """Rule 4: boxes whose middles are within half a line height, top to bottom, each left to right."""
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: b.middle):
        if rows and abs(box.middle - statistics.fmean(b.middle for b in rows[-1])) < unit / 2:
            rows[-1].append(box)
        else:
            rows.append([box])
    return [Row(tuple(sorted(row, key=lambda b: b.x0)), left, right) for row in rows]
