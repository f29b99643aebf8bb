"""The call's words and their pinyin with tone numbers, as ``espeak-ng -v cmn-latn-pinyin`` reads them.

Ticket numbers are read one character at a time (A001 → A 零零一); the counter's
number is read as a number (12号窗口 → 十二号窗口); letters use the names
Chinese speakers give them::

    >>> call_text("A001", "1号窗口")
    '请 A001 号 到 1号窗口 办理'
    >>> to_pinyin(call_text("A001", "1号窗口"))
    'qing3 ei1 ling2 ling2 yi1 hao4 dao4 yi1 hao4 chuang1 kou3 ban4 li3'
"""

from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
# How letters are said in Mandarin, in tone-numbered pinyin.
LETTERS = {
    "A": "ei1",
    "B": "bi4",
    "C": "xi1",
    "D": "di4",
    "E": "yi4",
    "F": "ai2 fu5",
    "G": "ji4",
    "H": "ai1 qi1",
    "I": "ai4",
    "J": "jie4",
    "K": "kai4",
    "L": "ai2 le5",
    "M": "ai2 mu5",
    "N": "en1",
    "O": "ou1",
    "P": "pi4",
    "Q": "qiu1",
    "R": "a1 er3",
    "S": "ai2 si1",
    "T": "ti4",
    "U": "you1",
    "V": "wei1",
    "W": "da1 bu5 liu5",
    "X": "ai2 ke4 si1",
    "Y": "wai1",
    "Z": "zei4",
}


def call_text(number: str, counter_name: str) -> str:
    """The words of a call, as shown on the hall display."""
    return f"请 {number} 号 到 {counter_name} 办理"


def number_words(n: int) -> str:
    """An integer 0..9999 in Chinese numerals (12 → 十二, 105 → 一百零五)."""
    if not 0 <= n <= 9999:
        raise ValueError(f"cannot read {n} as a counter number (0..9999)")
    if n < 10:
        return DIGITS[n]
    if n < 20:
        return "十" + (DIGITS[n % 10] if n % 10 else "")
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // value % 10
        if d:
            out += ("零" if zero and out else "") + DIGITS[d] + unit
            zero = False
        elif out:
            zero = True
    return out


def _syllables(text: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    return [s for s in lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True) if s.strip()]


_TICKET = re.compile(r"^[A-Z]\d{1,4}$")


def to_pinyin(text: str) -> str:
    """Tone-numbered pinyin for a call text; ticket numbers digit by digit, other numbers as numbers."""
    out: list[str] = []
    for token in text.split():
        if _TICKET.match(token):
            out.append(LETTERS[token[0]])
            out += _syllables("".join(DIGITS[int(d)] for d in token[1:]))
            continue
        spoken = re.sub(r"\d+", lambda m: number_words(int(m.group())), token)
        for part in re.findall(r"[A-Z]|[^A-Z]+", spoken.upper() if spoken.isascii() else spoken):
            if part in LETTERS:
                out.append(LETTERS[part])
            else:
                out += [s for s in _syllables(part) if re.fullmatch(r"[a-zü]+[1-5]", s)]
    return " ".join(out)
