"""The shared text widget draws Chinese in lines broken by character, on the real Kivy label (offscreen)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kivy.core.window import Window

from edge.config import SIGNAGE
from kiosk_ui.drive import pump
from kiosk_ui.widgets import Text

NOT_AT_LINE_START = "、，。：；！？）」》"  # closing punctuation (GB/T 15834; W3C clreq §3.1.7)


@pytest.fixture
def shown() -> Iterator[list[Text]]:
    made: list[Text] = []
    yield made
    for w in made:
        Window.remove_widget(w)


def _drawn(shown: list[Text], text: str, width: float, size: float = 20) -> tuple[Text, list[str]]:
    w = Text(text, size=size, halign="left", size_hint=(None, None), height=400)
    Window.add_widget(w)
    w.width = width  # as a layout gives it its width
    shown.append(w)
    pump()
    w.texture_update()
    return w, ["".join(word.text for word in line.words) for line in w._label._cached_lines]


def test_chinese_breaks_by_character_and_carries_a_character_down_with_closing_punctuation(
    shown: list[Text],
) -> None:
    em = Text("", size=20)._label.get_extents("一")[0]  # the CJK font draws every ideograph one em wide
    w, lines = _drawn(shown, "一二三四五、六七", 16 + 5.5 * em)  # room for five and a half characters
    # "一二三四五" would fit, but "、" may not start the next line: "五" goes down with it
    assert lines == ["一二三四", "五、六七"]
    assert w.text == "一二三四五、六七"  # the text itself is left as given


def test_the_camera_notice_fills_its_lines_and_no_line_starts_with_closing_punctuation(shown: list[Text]) -> None:
    w, lines = _drawn(shown, SIGNAGE, 360)
    assert len(lines) > 3
    assert "".join(lines).replace(" ", "") == SIGNAGE.replace(" ", "")
    assert not [line for line in lines if line[0] in NOT_AT_LINE_START], lines
    room = 360 - 16
    widths = [w._label.get_extents(line)[0] for line in lines]
    assert all(width <= room for width in widths), lines
    # broken by character, every line but the last is nearly full: none ends early at the one space ("、VIP")
    assert all(width > room - 3 * w._label.get_extents("一")[0] for width in widths[:-1]), lines


def test_a_latin_word_in_chinese_stays_whole_and_one_wider_than_a_line_is_cut() -> None:
    from kiosk_ui.linebreak import break_lines

    # widths in characters (len): hand-worked
    assert break_lines("请出示VIP卡", 4, len) == ["请出示", "VIP卡"]  # not "请出示V", "IP卡"
    assert break_lines("编号ABCDEFGHIJ。", 4, len) == ["编号", "ABCD", "EFGH", "IJ。"]  # the word alone is too wide
