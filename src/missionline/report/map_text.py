"""Text measurement and wrapping for the mission map, without a font engine.

Boxes are sized to their text before any renderer runs, so widths come from a table: the advance
widths of DejaVu Sans (matplotlib's bundled font, and the usual ``sans-serif`` on Linux), in
thousandths of an em. Other common sans-serif faces (Arial, Helvetica) are narrower, so text
measured this way fits in browsers too.
"""

from __future__ import annotations

import re
import unicodedata

# Advance widths of ASCII 32..126 in 1/1000 em, measured with matplotlib's TextToPath.
_REGULAR = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636,
    636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698,
    770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732,
    684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635,
    634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592,
    525, 636, 337, 636, 838,
)  # fmt: skip
_BOLD = (
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696,
    696, 696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734,
    830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812,
    774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716,
    712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652,
    582, 712, 365, 712, 838,
)  # fmt: skip
# Characters outside ASCII that the map itself writes.
_EXTRA = {
    "\u2013": 500,  # en dash
    "\u2014": 1000,  # em dash
    "\u00b7": 318,  # middle dot
    "\u2026": 1000,  # ellipsis
    "\u25cf": 873,  # black circle
    "\u2192": 838,  # rightwards arrow
    "\u00a0": 318,  # no-break space
}
ELLIPSIS = "\u2026"
# XML 1.0 forbids most C0 controls even when escaped; plan text is user input, so drop them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def clean(text: str) -> str:
    """Return ``text`` on one line, without characters that XML or a renderer cannot carry."""
    return " ".join(_CONTROL.sub("", str(text)).split())


def char_width(char: str, bold: bool = False) -> float:
    """Advance width of one character in em."""
    code = ord(char)
    if 32 <= code < 127:
        return (_BOLD if bold else _REGULAR)[code - 32] / 1000
    if char in _EXTRA:
        return _EXTRA[char] / 1000
    if unicodedata.combining(char):
        return 0.0
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 1.0
    base = unicodedata.normalize("NFD", char)[0]
    if base != char and 32 <= ord(base) < 127:  # accented Latin letters: as wide as the base
        return char_width(base, bold)
    return 0.65 if bold else 0.62


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width of ``text`` in px at font size ``size`` px."""
    return sum(char_width(c, bold) for c in text) * size


def _split_word(word: str, width: float, size: float, bold: bool) -> list[str]:
    """Break a word that is wider than the line into pieces that fit (ids, URLs)."""
    pieces: list[str] = []
    current = ""
    for char in word:
        if current and text_width(current + char, size, bold) > width:
            pieces.append(current)
            current = ""
        current += char
    return [*pieces, current] if current else pieces


def ellipsize(text: str, width: float, size: float, bold: bool = False, force: bool = False) -> str:
    """Shorten ``text`` with an ellipsis so that it fits in ``width`` (``force``: always mark)."""
    if not force and text_width(text, size, bold) <= width:
        return text
    while text and text_width(text.rstrip() + ELLIPSIS, size, bold) > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def wrap(
    text: str, width: float, size: float, bold: bool = False, max_lines: int | None = None
) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width`` px.

    Words longer than a line are broken; with ``max_lines`` the last kept line ends in an
    ellipsis (renderers put the full text in the tooltip).
    """
    lines: list[str] = []
    current = ""
    for word in clean(text).split(" "):
        if not word:
            continue
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size, bold) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        pieces = _split_word(word, width, size, bold)
        lines += pieces[:-1]
        current = pieces[-1] if pieces else ""
    if current:
        lines.append(current)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = ellipsize(lines[-1], width, size, bold, force=True)
    return lines
