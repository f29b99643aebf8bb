"""Offline speech to WAV: the engine seam, espeak-ng, a chime, and joining WAVs.

An engine turns tone-numbered pinyin into a mono 16-bit WAV file; another
engine can replace espeak-ng as long as it does that::

    engine = EspeakEngine()
    engine.synthesize("qing3 ei1 ling2 ling2 yi1 hao4", Path("/tmp/call.wav"))
"""

from __future__ import annotations

import math
import shutil
import subprocess
import wave
from array import array
from pathlib import Path
from typing import Protocol

from drivers.errors import DeviceUnavailable, DriverError


class VoiceError(DriverError):
    """Speech could not be made or played."""

    code = "voice"


class Engine(Protocol):
    name: str

    def synthesize(self, pinyin: str, path: Path) -> None:
        """Write ``pinyin`` spoken as a mono 16-bit PCM WAV file at ``path``."""


class EspeakEngine:
    """``espeak-ng -v cmn-latn-pinyin`` (plain ``cmn`` would read tone numbers as digits)."""

    name = "espeak-ng"

    def __init__(self, voice: str = "cmn-latn-pinyin", speed: int = 150, binary: str = "espeak-ng") -> None:
        self.voice = voice
        self.speed = speed
        self.binary = binary

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def synthesize(self, pinyin: str, path: Path) -> None:
        if not self.available():
            raise DeviceUnavailable(f"{self.binary} is not installed (Debian package espeak-ng)")
        argv = [self.binary, "-v", self.voice, "-s", str(self.speed), "-w", str(path), pinyin]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        except subprocess.TimeoutExpired as exc:
            raise VoiceError(f"{self.binary} took too long to speak {pinyin!r}") from exc
        if proc.returncode != 0 or not path.exists():
            err = proc.stderr.decode(errors="replace").strip()
            raise VoiceError(f"{self.binary} failed ({proc.returncode}): {err or 'no output file'}")


def chime(rate: int, *, notes: tuple[float, ...] = (784.0, 659.3), note_s: float = 0.45) -> array[int]:
    """A two-note "ding-dong" as 16-bit samples at ``rate`` Hz, decaying like a struck bell."""
    out = array("h")
    for freq in notes:
        n = int(rate * note_s)
        for i in range(n):
            t = i / rate
            env = math.exp(-4.0 * t) * min(1.0, i / (rate * 0.005))
            value = 0.5 * math.sin(2 * math.pi * freq * t) + 0.2 * math.sin(4 * math.pi * freq * t)
            out.append(int(12000 * env * value))
    return out


def silence(rate: int, seconds: float) -> array[int]:
    return array("h", bytes(2 * int(rate * seconds)))


def read_wav(path: Path) -> tuple[int, array[int]]:
    """Rate and samples of a mono 16-bit WAV."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise VoiceError(f"{path}: expected mono 16-bit PCM")
            rate, frames = w.getframerate(), w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise VoiceError(f"{path}: not a readable WAV: {exc}") from exc
    return rate, array("h", frames)


def write_wav(path: Path, rate: int, samples: array[int]) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def duration(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()
