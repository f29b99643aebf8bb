"""The IC-card unit against a real pcscd, vsmartcard's vpcd reader and our virtual card."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import pytest

from drivers.cards import IcCardUnit
from drivers.iccard.config import EXAMPLE_PROFILE, ApduProfile, IcCardConfig
from drivers.iccard.vicc import ElectricityCard, VirtualCard
from edge.identity import make_ref
from tests.drivers.conftest_cards import (  # noqa: F401
    VPCD_READER,
    Pcscd,
    card_present,
    pcscd,
    pcscd_session,
    wait_until,
)

KEY = b"k" * 32
ACCOUNT = "3301234567890"
Published = queue.Queue[tuple[str, dict[str, Any], bool]]


class Harness:
    def __init__(self, config: IcCardConfig) -> None:
        self.published: Published = queue.Queue()
        self.unit = IcCardUnit(config, key=KEY)
        self.cards: list[VirtualCard] = []

    def publish(self, topic: str, data: dict[str, Any], *, durable: bool = True) -> None:
        self.published.put((topic, data, durable))

    def insert(self, account: str, remove_on_ins: int | None = None, delay_s: float = 0.0) -> VirtualCard:
        card = VirtualCard(ElectricityCard(account), delay_s=delay_s)
        card.remove_on_ins = remove_on_ins
        self.cards.append(card.insert())
        return card

    def remove_all(self) -> None:
        for card in self.cards:
            card.remove()
        assert wait_until(lambda: not card_present(), 10), "pcscd still shows a card"

    def counters(self) -> dict[str, int]:
        return self.unit.health().counters

    def next(self, timeout: float = 15.0) -> tuple[str, dict[str, Any], bool]:
        return self.published.get(timeout=timeout)


def make_harness(**overrides: Any) -> Harness:
    fields: dict[str, Any] = {"reader_pattern": f"^{VPCD_READER}$", "poll_interval": 0.1, **overrides}
    return Harness(IcCardConfig(**fields))


@pytest.fixture
def harness(pcscd: Pcscd) -> Iterator[Harness]:  # noqa: F811
    h = make_harness()
    h.unit.start(h.publish)
    assert wait_until(lambda: h.unit.health().state == "ok", 15), h.unit.health()
    yield h
    h.unit.stop()
    h.remove_all()


def test_inserted_card_is_read_and_removed_card_reported(harness: Harness) -> None:
    card = harness.insert(ACCOUNT)
    topic, data, durable = harness.next()
    assert (topic, durable) == ("card.ic.read", False)
    assert data == {"reader": VPCD_READER, "customer": make_ref("ic", ACCOUNT, key=KEY).to_dict()}
    assert ACCOUNT not in str(data)
    assert [c[1] for c in card.apdus[:2]] == [0xA4, 0xA4]  # the profile's steps, in order, on the wire
    card.remove()
    assert harness.next() == ("card.ic.removed", {"reader": VPCD_READER}, False)
    counters = harness.counters()
    assert counters["cards"] == 1 and counters["removed"] == 1


def test_card_removed_mid_read_is_counted_and_the_next_card_read(harness: Harness) -> None:
    harness.insert("1111111111", remove_on_ins=0xB0)  # pulled when READ BINARY arrives
    assert wait_until(lambda: harness.counters()["removed_mid_read"] == 1, 15), harness.counters()
    assert harness.next() == ("card.ic.removed", {"reader": VPCD_READER}, False)
    harness.insert(ACCOUNT)
    topic, data, _ = harness.next()
    assert topic == "card.ic.read"
    assert data["customer"]["hash"] == make_ref("ic", ACCOUNT, key=KEY).hash
    assert harness.unit.health().state == "ok"


def test_a_card_the_profile_does_not_fit_is_a_counted_card_error(pcscd: Pcscd) -> None:  # noqa: F811
    profile = ApduProfile.model_validate(
        {**EXAMPLE_PROFILE.model_dump(), "steps": [{"select_aid": "A0000000031010"}, {"read_length": 16}]}
    )
    h = make_harness(profile=profile)
    h.unit.start(h.publish)
    try:
        h.insert(ACCOUNT)
        assert wait_until(lambda: h.counters()["card_errors"] == 1, 15), h.counters()
        assert h.published.empty()
    finally:
        h.unit.stop()
        h.remove_all()


def test_no_matching_reader_is_offline_with_the_pattern_named(pcscd: Pcscd) -> None:  # noqa: F811
    h = make_harness(reader_pattern="^Teller desk reader$")
    h.unit.start(h.publish)
    try:
        assert wait_until(lambda: h.unit.health().detail != "not started", 10)
        health = h.unit.health()
        assert health.state == "offline" and "'^Teller desk reader$'" in health.detail
    finally:
        h.unit.stop()


def test_pcscd_restart_goes_offline_then_reads_again(pcscd: Pcscd, harness: Harness) -> None:  # noqa: F811
    if not pcscd.owned:
        pytest.skip("pcscd was already running on this machine; only a daemon these tests started is restarted")
    pcscd.stop()
    assert wait_until(lambda: harness.unit.health().state == "offline", 15), harness.unit.health()
    assert "pcscd" in harness.unit.health().detail or "Service" in harness.unit.health().detail
    pcscd.start()
    assert wait_until(lambda: harness.unit.health().state == "ok", 20), harness.unit.health()
    harness.insert(ACCOUNT)
    topic, _, _ = harness.next(20)
    assert topic == "card.ic.read"
    assert harness.counters()["service_losses"] >= 1


def test_a_quick_swap_between_two_polls_reads_the_second_card(harness: Harness) -> None:
    first = harness.insert(ACCOUNT)
    assert harness.next()[0] == "card.ic.read"
    first.remove()
    harness.insert("4401234567890")  # before pcscd's next presence check
    reads = []
    while len(reads) < 1:
        topic, data, _ = harness.next()
        if topic == "card.ic.read":
            reads.append(data["customer"]["hash"])
    assert reads == [make_ref("ic", "4401234567890", key=KEY).hash]


def test_field_check_reads_a_card_and_times_out_without_one(pcscd: Pcscd) -> None:  # noqa: F811
    from drivers.cards import read_ic_card
    from drivers.errors import DeviceTimeout

    config = IcCardConfig(reader_pattern=f"^{VPCD_READER}$")
    with pytest.raises(DeviceTimeout, match=r"no IC card was read within 1\.0 s"):
        read_ic_card(config, timeout=1.0)
    card = VirtualCard(ElectricityCard(ACCOUNT)).insert()
    try:
        result = read_ic_card(config, timeout=15)
    finally:
        card.remove()
        assert wait_until(lambda: not card_present(), 10)
    assert result == {"reader": VPCD_READER, "account_masked": "3301*****7890", "profile": EXAMPLE_PROFILE.name}


PROFILE_INS = [0xA4, 0xA4, 0xC0, 0xA4, 0xB0]
"""The example profile on the wire: SELECT MF, SELECT by AID, GET RESPONSE (its FCI), SELECT EF, READ BINARY."""


def test_two_clients_reading_one_card_take_turns(harness: Harness) -> None:
    other = make_harness()  # a second PC/SC client on the same reader (a field check, another program)
    other.unit.start(other.publish)
    try:
        assert wait_until(lambda: other.unit.health().state == "ok", 15), other.unit.health()
        card = harness.insert(ACCOUNT, delay_s=0.03)  # a slow card: each read takes a while
        expected = make_ref("ic", ACCOUNT, key=KEY).to_dict()
        for h in (harness, other):
            topic, data, _ = h.next()
            assert (topic, data["customer"]) == ("card.ic.read", expected)
        assert card.wait_apdus(10)
        # Each read ran whole before the other began: no command of one landed between the other's.
        assert [apdu[1] for apdu in card.apdus] == PROFILE_INS * 2
        for h in (harness, other):
            counters = h.counters()
            assert counters["cards"] == 1 and counters["read_errors"] == 0 and counters["busy"] == 0
    finally:
        other.unit.stop()


def test_a_card_held_by_another_client_is_busy_then_read_when_it_is_let_go(pcscd: Pcscd) -> None:  # noqa: F811
    from smartcard import scard

    h = make_harness(lock_wait_s=0.5)
    card = h.insert(ACCOUNT)
    assert wait_until(card_present, 10)
    hresult, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hresult == scard.SCARD_S_SUCCESS
    hresult, held, _ = scard.SCardConnect(ctx, VPCD_READER, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0)
    assert hresult == scard.SCARD_S_SUCCESS
    assert scard.SCardBeginTransaction(held) == scard.SCARD_S_SUCCESS  # another program holds the card
    released = False
    h.unit.start(h.publish)
    try:
        assert wait_until(lambda: h.counters()["busy"] >= 2, 15), h.unit.health()  # tried, and tried again
        health = h.unit.health()
        assert health.state == "degraded"
        assert f"the card in {VPCD_READER} is held by another PC/SC client for more than 0.5 s" in health.detail
        assert h.published.empty() and card.apdus == []
        assert scard.SCardEndTransaction(held, scard.SCARD_LEAVE_CARD) == scard.SCARD_S_SUCCESS
        released = True
        topic, data, _ = h.next()
        assert (topic, data["customer"]["hash"]) == ("card.ic.read", make_ref("ic", ACCOUNT, key=KEY).hash)
        assert wait_until(lambda: h.unit.health().state == "ok", 10), h.unit.health()
    finally:
        if not released:
            scard.SCardEndTransaction(held, scard.SCARD_LEAVE_CARD)
        scard.SCardDisconnect(held, scard.SCARD_LEAVE_CARD)
        scard.SCardReleaseContext(ctx)
        h.unit.stop()
        h.remove_all()
