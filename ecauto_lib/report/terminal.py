"""The run report for a terminal: every line within ``width`` columns (80 by default).

A wide (East Asian ``W``/``F``) character takes two columns (:func:`display_width`). Markdown
tables are aligned; a table too wide for the terminal has its widest cells cut with ``…`` (a
product title, a reason), and one that still does not fit is shown as one block per row. Other
lines are wrapped. The artifacts keep the full tables (:func:`ecauto_lib.report.render_markdown`).
"""

from __future__ import annotations

import unicodedata

WIDTH = 80
MIN_COLUMN = 16  # a column is never cut narrower than this: below it the table becomes blocks
TITLE_HEADER = "商品名 (title)"  # in blocks, a title is cut to TITLE_COLUMNS; other cells wrap
TITLE_COLUMNS = 32


def char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes (wide characters count 2)."""
    return sum(char_width(c) for c in text)


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns, ending with ``…`` when cut."""
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        w = char_width(char)
        if used + w > width - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + "…"


def pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def wrap(text: str, width: int, indent: str = "") -> list[str]:
    """``text`` in lines of at most ``width`` columns, breaking at spaces where it can; later
    lines start with ``indent``."""
    lines: list[str] = []
    line, used = "", 0
    for word in text.split(" "):
        for piece in _pieces(word, width - display_width(indent)):
            w = display_width(piece)
            room = width - used - (1 if line else 0)
            if line and w > room:
                lines.append(line)
                line, used = indent + piece, display_width(indent) + w
            else:
                line += (" " if line else "") + piece
                used += (1 if used else 0) + w
    lines.append(line)
    return lines


def _pieces(word: str, width: int) -> list[str]:
    """A word too wide for a line, in pieces that fit (Japanese text has no spaces to break at)."""
    pieces, piece, used = [], "", 0
    for char in word:
        w = char_width(char)
        if used + w > width and piece:
            pieces.append(piece)
            piece, used = "", 0
        piece += char
        used += w
    return [*pieces, piece]


def fit_to_width(markdown: str, width: int = WIDTH) -> str:
    """``markdown`` with every table fitted and every other line wrapped to ``width`` columns."""
    out: list[str] = []
    block: list[str] = []
    for line in [*markdown.split("\n"), None]:
        if line is not None and line.startswith("|"):
            block.append(line)
            continue
        if block:
            out += fit_table(block, width)
            block = []
        if line is not None:
            out += wrap(line, width) if display_width(line) > width else [line]
    return "\n".join(out)


def fit_table(lines: list[str], width: int) -> list[str]:
    """A markdown table (header, separator, rows) aligned within ``width``, or as blocks."""
    header, *rows = [_cells(line) for line in lines if not set(line) <= set("|-: ")]
    widths = [max(display_width(row[i]) for row in (header, *rows)) for i in range(len(header))]
    while _table_width(widths) > width:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_COLUMN or _table_width([min(w, MIN_COLUMN) for w in widths]) > width:
            return _blocks(header, rows, width)
        widths[widest] = max(MIN_COLUMN, widths[widest] - (_table_width(widths) - width))

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(pad(truncate(c, w), w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]


def _blocks(header: list[str], rows: list[list[str]], width: int) -> list[str]:
    """Each row as ``- first · header: value · …``, wrapped; a title cut to TITLE_COLUMNS (the
    reasons are what the seller acts on: wrapped, never cut)."""
    out: list[str] = []
    for row in rows:
        cells = [
            truncate(c, TITLE_COLUMNS) if h == TITLE_HEADER else c for h, c in zip(header, row, strict=True)
        ]
        parts = [cells[0], *(f"{h}: {c}" for h, c in zip(header[1:], cells[1:], strict=True))]
        out += wrap("- " + " · ".join(parts), width, indent="  ")
    return out


def _table_width(widths: list[int]) -> int:
    return sum(widths) + 3 * len(widths) + 1


def _cells(line: str) -> list[str]:
    inner = line.strip()[1:-1]
    cells, cell, escaped = [], "", False
    for char in inner:
        if escaped:
            cell += char
            escaped = False
        elif char == "\\":
            cell += char
            escaped = True
        elif char == "|":
            cells.append(cell.strip(" "))  # not str.strip(): a cell may start with an ideographic space
            cell = ""
        else:
            cell += char
    return [*cells, cell.strip(" ")]
