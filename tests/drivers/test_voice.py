"""Voice calls: the pinyin we generate, and real speech from espeak-ng into WAV files."""

from __future__ import annotations

import queue
import shutil
from pathlib import Path
from typing import Any

import pytest

from drivers.errors import DeviceUnavailable
from drivers.voice import phrases, tts
from drivers.voice.unit import VoiceUnit
from tests.drivers.conftest_cards import wait_until

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make setup)")


@pytest.mark.parametrize(
    ("number", "counter", "pinyin"),
    [
        ("A001", "1号窗口", "qing3 ei1 ling2 ling2 yi1 hao4 dao4 yi1 hao4 chuang1 kou3 ban4 li3"),
        ("B017", "3号窗口", "qing3 bi4 ling2 yi1 qi1 hao4 dao4 san1 hao4 chuang1 kou3 ban4 li3"),
        ("D120", "12号窗口", "qing3 di4 yi1 er4 ling2 hao4 dao4 shi2 er4 hao4 chuang1 kou3 ban4 li3"),
    ],
)
def test_call_pinyin(number: str, counter: str, pinyin: str) -> None:
    assert phrases.to_pinyin(phrases.call_text(number, counter)) == pinyin


def test_numbers_in_words() -> None:
    assert [phrases.number_words(n) for n in (0, 10, 15, 20, 101, 110, 2005)] == [
        "零",
        "十",
        "十五",
        "二十",
        "一百零一",
        "一百一十",
        "二千零五",
    ]
    with pytest.raises(ValueError, match=r"0\.\.9999"):
        phrases.number_words(10000)


class Events:
    def __init__(self) -> None:
        self.q: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()

    def __call__(self, topic: str, data: dict[str, Any], *, durable: bool = True) -> None:
        self.q.put((topic, data))


@needs_espeak
def test_calls_are_spoken_to_wav_in_order(tmp_path: Path) -> None:
    unit = VoiceUnit("voice", tmp_path / "calls", repeat=2)
    events = Events()
    unit.start(events)
    try:
        unit.on_event({"topic": "ticket.called", "data": {"number": "A001", "counter": "1", "counter_name": "1号窗口"}})
        unit.on_event(
            {"topic": "ticket.recalled", "data": {"number": "B017", "counter": "3", "counter_name": "3号窗口"}}
        )
        first = events.q.get(timeout=60)[1]
        second = events.q.get(timeout=60)[1]
    finally:
        unit.stop()
    assert first["number"] == "A001" and second["number"] == "B017"  # queued, in order
    assert first["pinyin"] == "qing3 ei1 ling2 ling2 yi1 hao4 dao4 yi1 hao4 chuang1 kou3 ban4 li3"
    wav = Path(first["wav"])
    rate, samples = tts.read_wav(wav)
    seconds = len(samples) / rate
    # A chime (~1.2 s with the gap) and two readings of a 13-syllable call: several seconds, not a click.
    assert 4.0 < seconds < 30.0 and seconds == pytest.approx(first["seconds"], abs=0.01)
    # The speech is not silence: after the chime there is real signal.
    speech = samples[int(rate * 1.3) :]
    assert max(abs(s) for s in speech) > 2000
    assert sorted(p.name for p in (tmp_path / "calls").iterdir()) == ["call-0001-A001.wav", "call-0002-B017.wav"]
    assert unit.health().counters["announced"] == 2


@needs_espeak
def test_play_command_runs_after_each_file_and_failures_are_reported(tmp_path: Path) -> None:
    log = tmp_path / "played.txt"
    unit = VoiceUnit("voice", tmp_path / "calls", repeat=1, play_command=["sh", "-c", f"echo {{wav}} >> {log}"])
    path = unit.announce("C005", "2号窗口", "2")
    assert log.read_text().split() == [str(path)]
    broken = VoiceUnit("voice", tmp_path / "calls", repeat=1, play_command=["false"])
    with pytest.raises(tts.VoiceError, match="false exited 1"):
        broken.announce("C006", "2号窗口", "2")


def test_missing_engine_is_a_clear_error(tmp_path: Path) -> None:
    engine = tts.EspeakEngine(binary="no-such-espeak")
    with pytest.raises(DeviceUnavailable, match="no-such-espeak is not installed"):
        engine.synthesize("ni3 hao3", tmp_path / "x.wav")
    unit = VoiceUnit("voice", tmp_path, engine=engine)
    unit.start(Events())
    assert unit.health().state == "offline"
    unit.stop()


@needs_espeak
def test_a_full_disk_is_a_fault_until_a_call_can_be_written_again(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    calls.mkdir()
    (calls / "call-0001-A001.wav").symlink_to("/dev/full")  # the first call's file lands on a full device
    unit = VoiceUnit("voice", calls, repeat=1)
    events = Events()
    unit.start(events)
    try:
        unit.on_event({"topic": "ticket.called", "data": {"number": "A001", "counter": "1", "counter_name": "1号窗口"}})
        assert wait_until(lambda: unit.health().state == "fault", 60), unit.health()
        health = unit.health()
        assert health.detail == f"cannot write the call to {calls}: No space left on device"
        assert health.counters["failed"] == 1 and health.counters["restarts"] == 0
        unit.on_event({"topic": "ticket.called", "data": {"number": "A002", "counter": "1", "counter_name": "1号窗口"}})
        assert events.q.get(timeout=60)[1]["number"] == "A002"
        assert unit.health().state == "ok" and unit.health().detail == ""
    finally:
        unit.stop()
