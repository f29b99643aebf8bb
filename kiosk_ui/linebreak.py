"""Breaking Chinese (and mixed) text into lines: between any two characters, with the rules readers expect.

Kivy breaks lines at spaces only, so a Chinese sentence with one space in it
(``…刷脸取号、VIP 到店提醒…``) breaks there, leaving a short line such as
``、VIP``. :func:`break_lines` breaks Chinese by character instead, as the W3C's
*Requirements for Chinese Text Layout* (clreq, §3.1.7 and the 禁则 of GB/T 15834)
describe: a line may end after any Chinese character, a run of Latin letters or
digits stays whole, closing punctuation (、，。）」…) never starts a line (the
character before it moves down with it), and opening punctuation (（「《“…)
never ends one. Widths come from ``measure`` (the label's font), so the pure
rules are tested with ``len``::

    >>> break_lines("刷脸取号、VIP 到店提醒", 6, len)
    ['刷脸取号、', 'VIP 到店', '提醒']
    >>> break_lines("一二三四五、六", 5, len)  # the comma would start line 2: 五 goes down with it
    ['一二三四', '五、六']
    >>> break_lines("请到（三号窗口）办理", 3, len)  # and an opening bracket never ends a line
    ['请到', '（三号', '窗口）', '办理']
"""

from __future__ import annotations

import re
from collections.abc import Callable

CLOSING = set("、，。．：；！？）」』】》〉〕｝］”’…—%,.:;!?)]}")
"""Characters that may not start a line (clreq's 行首禁则, with their ASCII forms)."""
OPENING = set("（「『【《〈〔｛［“‘")
"""Characters that may not end a line (clreq's 行尾禁则)."""
_CJK = re.compile(
    "[\u2e80-\u2fff\u3000-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\ufe30-\ufe4f\uff00-\uffef\u201c\u201d\u2018\u2019\u2026\u2014]"
)
_RUNS = "\u2026\u2014"  # …… and —— are one piece each, never broken inside


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds Chinese (Japanese, Korean) characters, which Kivy alone would break badly."""
    return _CJK.search(text) is not None


def _units(paragraph: str) -> list[str]:
    """The paragraph cut where a line may break: " " for a space, else pieces never broken inside (a Chinese
    character with the punctuation that must stay with it, a Latin word)."""
    units: list[str] = []
    opening = ""
    for atom in _atoms(paragraph):
        if atom == " ":
            if not opening:  # a space after an opening bracket: the bracket stays with what follows
                units.append(" ")
        elif atom[0] in CLOSING and units and units[-1] != " ":
            units[-1] += atom
        elif atom[-1] in OPENING:
            opening += atom
        else:
            units.append(opening + atom)
            opening = ""
    if opening:
        units.append(opening)
    return units


def _atoms(paragraph: str) -> list[str]:
    """Spaces (as one " "), Chinese characters one by one, runs of … or —, and Latin words."""
    atoms: list[str] = []
    i, n = 0, len(paragraph)
    while i < n:
        c, j = paragraph[i], i + 1
        if c == " " or c in _RUNS:
            while j < n and paragraph[j] == c:
                j += 1
        elif not _CJK.match(c):
            while j < n and paragraph[j] != " " and not _CJK.match(paragraph[j]):
                j += 1
        atoms.append(" " if c == " " else paragraph[i:j])
        i = j
    return atoms


def break_lines(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """``text`` in lines no wider than ``width`` (a piece wider than a whole line alone is cut by character);
    the text's own newlines are kept, and the spaces where it breaks are dropped."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, space = "", False
        for unit in _units(paragraph):
            if unit == " ":
                space = bool(line)
                continue
            candidate = line + (" " if space else "") + unit
            space = False
            if not line or measure(candidate) <= width:
                line = candidate
            else:
                lines.append(line)
                line = unit
            while measure(line) > width and len(line) > 1:  # wider than a line alone: cut by character
                cut = 1
                while cut < len(line) - 1 and measure(line[: cut + 1]) <= width:
                    cut += 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines
