"""The ID-card reader against the simulated SAM module over a real pty."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from drivers.cards import IdCardUnit
from drivers.errors import CardDataError, DeviceTimeout, DeviceUnavailable
from drivers.idcard import frames as fr
from drivers.idcard.card import IdCard
from drivers.idcard.config import IdCardConfig
from drivers.idcard.reader import IdCardReader
from drivers.idcard.sim import SamModule, SimCard, resident_text
from edge.identity import make_ref
from tests.drivers.conftest_cards import wait_until

NUMBER = "11010519491231002X"
KEY = b"k" * 32


@pytest.fixture
def module(tmp_path: Path) -> Iterator[SamModule]:
    sam = SamModule(tmp_path).start()
    yield sam
    sam.stop()


class Running:
    def __init__(self, reader: IdCardReader, cards: queue.Queue[IdCard]) -> None:
        self.reader, self.cards = reader, cards
        self.stop = threading.Event()
        self.thread = threading.Thread(target=reader.run, args=(self.stop,), daemon=True)

    def counters(self) -> dict[str, int]:
        return self.reader.health().counters


@pytest.fixture
def running(module: SamModule) -> Iterator[Running]:
    cards: queue.Queue[IdCard] = queue.Queue()
    # A generous answer timeout: a slow machine must not turn one answer into a retried read.
    reader = IdCardReader(module.url, on_card=cards.put, poll_interval=0.02, timeout=1.0)
    run = Running(reader, cards)
    run.thread.start()
    yield run
    run.stop.set()
    run.thread.join(5)
    assert not run.thread.is_alive()


def card_text(name: str = "张三", number: str = NUMBER, birth: str = "19491231") -> bytes:
    return resident_text(name, number, birth=birth)


def test_a_card_left_on_the_reader_is_read_once(module: SamModule, running: Running) -> None:
    card = module.place(SimCard(card_text()))
    got = running.cards.get(timeout=5)
    assert (got.name, got.number) == ("张三", NUMBER)
    finds = module.commands.count(fr.CMD_FIND)
    assert module.wait_for(fr.CMD_FIND, finds + 10)  # ten more polls with the card still there
    assert card.reads == 1
    assert running.cards.empty()
    counters = running.counters()
    assert counters["cards"] == 1 and counters["skipped_same_card"] >= 9
    assert running.reader.health().state == "ok"


def test_the_same_card_placed_again_is_read_again(module: SamModule, running: Running) -> None:
    card = module.place(SimCard(card_text()))
    running.cards.get(timeout=5)
    module.remove()
    finds = module.commands.count(fr.CMD_FIND)
    assert module.wait_for(fr.CMD_FIND, finds + 2)  # a find answered "no card"
    module.place(card)
    assert running.cards.get(timeout=5).number == NUMBER
    assert card.reads == 2


def test_a_different_card_is_read_without_a_gap(module: SamModule, running: Running) -> None:
    module.place(SimCard(card_text()))
    running.cards.get(timeout=5)
    module.place(SimCard(card_text("李四", "110101199003071233", "19900307")))
    assert running.cards.get(timeout=5).name == "李四"


def test_noise_split_frames_and_bad_checksums_resynchronise(module: SamModule, running: Running) -> None:
    assert module.wait_for(fr.CMD_FIND, 2)
    module.inject(b"\x00\xff\xaa\xaa\x13")
    module.corrupt_next(2)
    module.split_next(6)
    card = module.place(SimCard(card_text()))
    assert running.cards.get(timeout=10).number == NUMBER
    assert card.reads >= 1
    counters = running.counters()
    assert counters["bad_checksum"] == 2
    assert counters["garbage_bytes"] >= 5
    assert counters["timeouts"] >= 2  # the two corrupted answers were never accepted


def test_a_silent_module_degrades_and_recovers(module: SamModule, running: Running) -> None:
    assert module.wait_for(fr.CMD_FIND, 1)
    module.silent = True
    assert wait_until(lambda: running.reader.health().state == "degraded")
    assert "not answering" in running.reader.health().detail
    assert running.counters()["timeouts"] >= 3
    module.silent = False
    module.place(SimCard(card_text()))
    assert running.cards.get(timeout=5).number == NUMBER
    assert running.reader.health().state == "ok"


def test_an_unplugged_port_goes_offline_and_is_reopened(module: SamModule, running: Running) -> None:
    assert module.wait_for(fr.CMD_FIND, 1)
    module.unplug()
    assert wait_until(lambda: running.reader.health().state == "offline")
    assert "cannot open" in running.reader.health().detail or "failed" in running.reader.health().detail
    module.replug()
    module.place(SimCard(card_text()))
    assert running.cards.get(timeout=10).number == NUMBER
    counters = running.counters()
    assert counters["reopens"] == 1 and counters["port_errors"] >= 1


def test_port_closed_mid_frame(module: SamModule, running: Running) -> None:
    module.unplug_on(fr.CMD_READ)
    module.place(SimCard(card_text()))
    assert wait_until(lambda: running.counters()["port_errors"] >= 1)
    module.replug()
    assert running.cards.get(timeout=10).number == NUMBER


def test_a_card_pulled_mid_read_is_reported_and_read_when_placed_again(module: SamModule, running: Running) -> None:
    module.remove_on(fr.CMD_READ)  # found and selected, gone before its data is read
    card = module.place(SimCard(card_text()))
    assert wait_until(
        lambda: "last read failed: read card answered reading the card failed" in running.reader.health().detail
    )
    assert running.counters()["status_errors"] == 1 and running.cards.empty()
    module.place(card)
    assert running.cards.get(timeout=5).number == NUMBER
    assert running.reader.health().detail == ""


def test_a_second_program_on_the_port_is_told_it_is_in_use(module: SamModule, running: Running) -> None:
    from drivers.cards import read_id_card

    assert module.wait_for(fr.CMD_FIND, 1)
    with pytest.raises(DeviceUnavailable, match=r"in use by another program \(is hall devices running\?\)"):
        read_id_card(module.url, timeout=2)  # a technician's field check while the service runs
    module.place(SimCard(card_text()))
    assert running.cards.get(timeout=5).number == NUMBER  # the service never lost an answer to it
    assert running.counters()["timeouts"] == 0


def test_a_bad_card_is_counted_not_reread_every_poll(module: SamModule, running: Running) -> None:
    card = module.place(SimCard(card_text(number="110105194912310021")))
    assert wait_until(lambda: running.counters()["card_errors"] == 1)
    finds = module.commands.count(fr.CMD_FIND)
    assert module.wait_for(fr.CMD_FIND, finds + 5)
    assert card.reads == 1 and running.cards.empty()


def test_a_number_with_a_superscript_digit_is_refused_and_the_next_card_read(
    module: SamModule, running: Running
) -> None:
    # One flipped bit turns '2' (0x32) into '²' (0xB2 in UCS-2): str.isdigit() accepts it, int() does not.
    flipped = NUMBER[:16] + "²" + NUMBER[17:]
    bad = module.place(SimCard(card_text(number=flipped)))
    assert wait_until(lambda: running.counters()["card_errors"] == 1), running.reader.health()
    health = running.reader.health()
    assert health.state == "ok" and "card field number: character 17 is U+00B2" in health.detail
    assert flipped not in health.detail and NUMBER[:16] not in health.detail  # the number is named, never shown
    assert running.thread.is_alive()
    finds = module.commands.count(fr.CMD_FIND)
    assert module.wait_for(fr.CMD_FIND, finds + 3)
    assert bad.reads == 1 and running.cards.empty()  # the bad card is not read again while it stays
    module.place(SimCard(card_text()))
    assert running.cards.get(timeout=5).number == NUMBER
    assert wait_until(lambda: running.reader.health().detail == "")  # a good read clears the last failure
    assert running.reader.health().counters["restarts"] == 0


def test_read_card_for_a_field_check_and_its_timeout(module: SamModule) -> None:
    reader = IdCardReader(module.url, poll_interval=0.02, timeout=0.3)
    with pytest.raises(DeviceTimeout, match="no card was placed"):
        reader.read_card(0.3)
    module.place(SimCard(card_text()))
    assert reader.read_card(5).number == NUMBER
    module.place(SimCard(card_text(number="1101051949123100²X")))
    with pytest.raises(CardDataError, match=r"card field number: character 17 is U\+00B2, not an ASCII"):
        reader.read_card(5)
    reader.close()


def test_a_missing_port_is_a_clear_error(tmp_path: Path) -> None:
    reader = IdCardReader(str(tmp_path / "ttyNONE"))
    with pytest.raises(DeviceUnavailable, match=r"cannot open ID-card reader port .*ttyNONE"):
        reader.open()
    assert reader.health().state == "offline"


def test_spy_url_traces_the_line(module: SamModule, tmp_path: Path) -> None:
    trace = tmp_path / "spy.txt"
    reader = IdCardReader(f"spy://{module.url}?file={trace}", poll_interval=0.02, timeout=0.5)
    module.place(SimCard(card_text()))
    assert reader.read_card(5).number == NUMBER
    reader.close()
    log = trace.read_text()
    assert "TX   0000  AA AA AA 96 69 00 03 20  01 22" in log  # the find command, hexdumped


def test_unit_publishes_a_keyed_reference_and_nothing_personal(module: SamModule) -> None:
    published: queue.Queue[tuple[str, dict[str, Any], bool]] = queue.Queue()

    def publish(topic: str, data: dict[str, Any], *, durable: bool = True) -> None:
        published.put((topic, data, durable))

    config = IdCardConfig(port=module.url, poll_interval=0.05, timeout=0.3, elderly_age=65)
    unit = IdCardUnit(config, key=KEY, today=lambda: date(2025, 6, 1))
    unit.start(publish)
    try:
        module.place(SimCard(resident_text("欧阳小明", NUMBER, sex="1", birth="19491231")))
        topic, data, durable = published.get(timeout=5)
        module.remove()
        young = "110101199003071233"
        module.place(SimCard(resident_text("李四", young, sex="2", birth="19900307")))
        _, second, _ = published.get(timeout=5)
    finally:
        unit.stop()
    assert topic == "card.id.read" and durable is False
    ref = make_ref("id", NUMBER, name="欧阳小明", key=KEY)
    assert data == {
        "reader": "idcard",
        "customer": ref.to_dict(),
        "card_type": "resident",
        "name_masked": "欧**明",
        "sex": "male",
        "elderly": True,
    }
    text = json.dumps([data, second], ensure_ascii=False)
    for secret in (NUMBER, young, "欧阳小明", "李四", "正义路", "19491231"):
        assert secret not in text
    assert second["elderly"] is False and second["sex"] == "female"
    assert unit.health().counters["cards"] == 2


def test_field_check_shows_the_number_masked_six_and_four(module: SamModule) -> None:
    from drivers.cards import id_card_fields

    reader = IdCardReader(module.url, poll_interval=0.02, timeout=0.5)
    module.place(SimCard(resident_text("欧阳小明", NUMBER, nation="05", birth="19491231", valid_to="长期")))
    fields = id_card_fields(reader.read_card(5))
    reader.close()
    assert fields == {
        "card_type": "resident",
        "name_masked": "欧**明",
        "sex": "male",
        "nation": "维吾尔族",
        "birth": "1949-12-31",
        "number_masked": "110105********002X",
        "valid_from": "2020-01-01",
        "valid_to": "长期",
        "photo_bytes": 1024,
    }


def test_demo_places_cards_in_turn(module: SamModule) -> None:
    from drivers.idcard.sim import DEMO_CARDS, run_demo

    cards: queue.Queue[IdCard] = queue.Queue()
    reader = IdCardReader(module.url, on_card=cards.put, poll_interval=0.02, timeout=0.3)
    stop = threading.Event()
    threads = [
        threading.Thread(target=reader.run, args=(stop,), daemon=True),
        threading.Thread(target=run_demo, args=(module, stop), kwargs={"every": 0.05, "dwell": 0.3}, daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        names = [cards.get(timeout=10).name for _ in range(2)]
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    assert names == [DEMO_CARDS[0][0], DEMO_CARDS[1][0]]


def test_demo_units_read_simulated_cards(tmp_path: Path) -> None:
    from drivers.cards import build_card_units
    from drivers.iccard.config import IcCardConfig

    closers: list[Callable[[], None]] = []
    config = IdCardConfig(port="/dev/nonexistent", poll_interval=0.05)
    (unit,) = build_card_units(
        config, IcCardConfig(enabled=False), home=tmp_path, demo=True, closers=closers, demo_every=0.05, key=KEY
    )
    assert isinstance(unit, IdCardUnit) and unit.config.port == str(tmp_path / "idcard" / "ttySAM")
    published: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    unit.start(lambda topic, data, durable=True: published.put((topic, data)))
    try:
        topic, data = published.get(timeout=10)
    finally:
        unit.stop()
        for close in closers:
            close()
    assert topic == "card.id.read" and data["name_masked"] == "张*"


def test_field_check_read_and_list(module: SamModule) -> None:
    from drivers.cards import describe_cards, read_id_card
    from drivers.iccard.config import IcCardConfig

    module.place(SimCard(card_text()))
    result = read_id_card(module.url, timeout=5)
    assert result["reader"] == module.url and result["number_masked"] == "110105********002X"
    with pytest.raises(DeviceUnavailable):
        read_id_card(module.url + "-missing", timeout=1)
    rows = describe_cards(IdCardConfig(port=module.url), IcCardConfig(reader_pattern="^ACS"))
    assert rows == [
        {"device": "idcard", "kind": "sam-serial", "target": module.url},
        {"device": "iccard", "kind": "pcsc", "target": "readers ~ ^ACS"},
    ]


def test_hall_devices_idcard_read_and_list(module: SamModule, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    module.place(SimCard(card_text()))
    env = {**os.environ, "HALL_HOME": str(tmp_path / "home")}
    argv = [sys.executable, "-m", "edge", "devices"]
    res = subprocess.run(
        [*argv, "idcard", "read", "--port", module.url, "--timeout", "10", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    fields = json.loads(res.stdout)
    assert fields["number_masked"] == "110105********002X" and fields["name_masked"] == "张*"
    assert NUMBER not in res.stdout
    missing = subprocess.run(
        [*argv, "idcard", "read", "--port", module.url + "-missing", "--timeout", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode == 1 and "hall devices:" in missing.stderr
    listed = subprocess.run([*argv, "list", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert {"idcard", "iccard"} <= {row["device"] for row in json.loads(listed.stdout)}
