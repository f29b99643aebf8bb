"""The voice unit: ``ticket.called`` / ``ticket.recalled`` become a spoken call, one after another.

Each announcement is a chime, then the call spoken ``repeat`` times with a
pause between, written to ``out_dir/call-NNNN-<number>.wav`` and, when a play
command is configured (``["aplay", "-q", "{wav}"]``), played to the end before
the next one starts: calls queue and never cut one another off. Each finished
announcement is published as ``voice.announced`` {"number", "counter", "text",
"pinyin", "wav", "seconds"}. A call that cannot be made (espeak-ng missing,
the disk full) is a ``fault`` naming why, until the next call works.
"""

from __future__ import annotations

import logging
import queue
import subprocess
from array import array
from pathlib import Path
from typing import Any

from drivers.base import Health, HealthBoard, Publish, UnitRunner
from drivers.errors import DriverError
from drivers.voice import phrases, tts

log = logging.getLogger("hall.devices.voice")


class VoiceUnit:
    topics: tuple[str, ...] = ("ticket.called", "ticket.recalled")

    def __init__(
        self,
        name: str,
        out_dir: Path,
        *,
        engine: tts.Engine | None = None,
        repeat: int = 2,
        pause_s: float = 0.6,
        play_command: list[str] | None = None,
        keep_files: int = 50,
    ) -> None:
        self.name = name
        self.out_dir = out_dir
        self.engine = engine or tts.EspeakEngine()
        self.repeat = repeat
        self.pause_s = pause_s
        self.play_command = play_command or []
        self.keep_files = keep_files
        self.jobs: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=100)
        self.board = HealthBoard(f"voice {name}", ("announced", "failed", "dropped"), state="ok", detail="")
        self.runner = UnitRunner(f"voice:{name}", self._step, self.board, wake=self._wake)
        self.seq = 0
        self._publish: Publish | None = None

    def start(self, publish: Publish) -> None:
        self._publish = publish
        if isinstance(self.engine, tts.EspeakEngine) and not self.engine.available():
            self.board.set("offline", "espeak-ng is not installed")
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop(30)

    def health(self) -> Health:
        return self.runner.checked(self.board.health())

    def _wake(self) -> None:
        try:
            self.jobs.put_nowait(None)
        except queue.Full:  # the call in progress ends, then the runner sees the stop
            pass

    def on_event(self, env: dict[str, Any]) -> None:
        data = env.get("data") or {}
        if not data.get("number") or not data.get("counter"):
            return
        try:
            self.jobs.put_nowait(data)
        except queue.Full:
            self.board.count("dropped")

    def announce(self, number: str, counter_name: str, counter: str = "") -> Path:
        """Make (and play, if configured) one announcement now; return its WAV file."""
        text = phrases.call_text(number, counter_name)
        pinyin = phrases.to_pinyin(text)
        self.seq += 1
        path = self.out_dir / f"call-{self.seq:04d}-{number}.wav"
        speech = path.with_suffix(".speech.wav")
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            try:
                self.engine.synthesize(pinyin, speech)
                rate, voice = tts.read_wav(speech)
            finally:
                speech.unlink(missing_ok=True)
            samples = array("h")
            samples += tts.chime(rate)
            samples += tts.silence(rate, 0.3)
            for i in range(self.repeat):
                samples += voice
                if i + 1 < self.repeat:
                    samples += tts.silence(rate, self.pause_s)
            tts.write_wav(path, rate, samples)
        except OSError as exc:  # a full disk, a folder that cannot be made
            raise tts.VoiceError(f"cannot write the call to {self.out_dir}: {exc.strerror or exc}") from exc
        if self.play_command:
            self._play(path)
        self._prune()
        if self._publish is not None:
            data = {
                "number": number,
                "counter": counter,
                "text": text,
                "pinyin": pinyin,
                "wav": str(path),
                "seconds": round(len(samples) / rate, 2),
            }
            self._publish("voice.announced", data, durable=False)
        return path

    def _play(self, path: Path) -> None:
        argv = [a.replace("{wav}", str(path)) for a in self.play_command]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise tts.VoiceError(f"cannot play {path.name} with {argv[0]}: {exc}") from exc
        if proc.returncode != 0:
            raise tts.VoiceError(f"{argv[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[:200]}")

    def _prune(self) -> None:
        files = sorted(self.out_dir.glob("call-*.wav"))
        for old in files[: max(0, len(files) - self.keep_files)]:
            old.unlink(missing_ok=True)

    def _step(self) -> float:
        try:
            job = self.jobs.get(timeout=1.0)
        except queue.Empty:
            return 0.0
        if job is None:
            return 0.0
        try:
            self.announce(str(job["number"]), str(job.get("counter_name") or job["counter"]), str(job["counter"]))
        except DriverError as exc:
            log.warning("announcement of %s failed: %s", job.get("number"), exc)
            self.board.count("failed")
            self.board.set("fault", str(exc))
            return 0.0
        self.board.count("announced")
        self.board.set("ok")
        return 0.0
