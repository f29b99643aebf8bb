"""Device units for the card readers, run by the ``devices`` service.

The units turn a card into the hall's customer reference (a keyed hash and a
masked form, :mod:`edge.identity`) and publish it; the card's number, full
name, address and photo stay in this process.

- ``card.id.read`` {"reader", "customer", "card_type", "name_masked", "sex", "elderly"}
- ``card.ic.read`` {"reader", "customer"}
- ``card.ic.removed`` {"reader"}

All are published with ``durable=False``: they are facts for the kiosk, not
for the hall's log or HQ.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from drivers.base import Health, Publish
from drivers.iccard.config import IcCardConfig
from drivers.idcard.card import IdCard
from drivers.idcard.config import IdCardConfig
from edge.errors import HallError
from edge.identity import CustomerKey, Keyring, KeyringFile, mask_name
from edge.paths import Home

log = logging.getLogger(__name__)


class _Ring:
    """The customer keys a unit hashes with: a fixed key (tests), else the hall's keyring, followed as it changes."""

    def __init__(self, key: bytes | None) -> None:
        self.fixed = Keyring(CustomerKey("given", key)) if key is not None else None
        self.file: KeyringFile | None = None

    def get(self) -> Keyring:
        if self.fixed is not None:
            return self.fixed
        if self.file is None:
            home = Home.from_env()
            self.file = KeyringFile(home.customer_keys_path, home.secret_path)
        return self.file.get()


def id_card_event(card: IdCard, *, reader: str, key: bytes | Keyring, elderly_age: int, today: date) -> dict[str, Any]:
    """The ``card.id.read`` data for ``card``: nothing in it identifies the holder without the customer keys."""
    ring = key if isinstance(key, Keyring) else Keyring(CustomerKey("given", key))
    ref = ring.ref("id", card.number, name=card.name)
    return {
        "reader": reader,
        "customer": ref.to_dict(),
        "card_type": card.card_type,
        "name_masked": ref.name_masked,
        "sex": card.sex,
        "elderly": card.age(today) >= elderly_age,
    }


def mask_id_for_display(number: str) -> str:
    """First 6 and last 4 characters kept (region and check), as a field check shows it."""
    return number[:6] + "*" * max(0, len(number) - 10) + number[-4:] if len(number) > 10 else number


def id_card_fields(card: IdCard) -> dict[str, Any]:
    """What ``hall devices idcard read`` prints: enough to check the reader, no address, no photo."""
    return {
        "card_type": card.card_type,
        "name_masked": mask_name(card.name),
        "sex": card.sex,
        "nation": card.nation,
        "birth": card.birth.isoformat(),
        "number_masked": mask_id_for_display(card.number),
        "valid_from": card.valid_from.isoformat(),
        "valid_to": card.valid_to.isoformat() if card.valid_to else "长期",
        "photo_bytes": len(card.photo),
    }


class IdCardUnit:
    """The ID-card reader as a device unit."""

    def __init__(
        self, config: IdCardConfig, *, key: bytes | None = None, today: Callable[[], date] = date.today
    ) -> None:
        from drivers.idcard.reader import IdCardReader

        self.name = config.name
        self.config = config
        self._ring = _Ring(key)
        self._today = today
        self._publish: Publish | None = None
        self.reader = IdCardReader(
            config.port,
            on_card=self._on_card,
            baudrate=config.baudrate,
            timeout=config.timeout,
            poll_interval=config.poll_interval,
        )
        self.runner = self.reader.runner(self.name)

    def start(self, publish: Publish) -> None:
        self._publish = publish
        self._ring.get()  # the keys are read (or the hall's own key made) before the first card
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()

    def health(self) -> Health:
        return self.runner.checked(self.reader.health())

    def _on_card(self, card: IdCard) -> None:
        assert self._publish is not None
        data = id_card_event(
            card, reader=self.name, key=self._ring.get(), elderly_age=self.config.elderly_age, today=self._today()
        )
        self._publish("card.id.read", data, durable=False)


class IcCardUnit:
    """The PC/SC readers as one device unit."""

    def __init__(self, config: IcCardConfig, *, key: bytes | None = None) -> None:
        from drivers.iccard.reader import IcCardWatcher

        self.name = config.name
        self.config = config
        self._ring = _Ring(key)
        self._publish: Publish | None = None
        self.watcher = IcCardWatcher(
            config.profile,
            reader_pattern=config.reader_pattern,
            on_card=self._on_card,
            on_removed=self._on_removed,
            poll_interval=config.poll_interval,
            lock_wait=config.lock_wait_s,
        )
        self.runner = self.watcher.runner(self.name)

    def start(self, publish: Publish) -> None:
        self._publish = publish
        self._ring.get()
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()

    def health(self) -> Health:
        return self.runner.checked(self.watcher.health())

    def _on_card(self, reader: str, account: str) -> None:
        assert self._publish is not None
        try:
            ref = self._ring.get().ref("ic", account)
        except HallError as exc:  # an account the hall cannot key (odd characters) is a card error
            log.warning("IC card in %s: %s", reader, exc)
            self.watcher.board.count("card_errors")
            return
        self._publish("card.ic.read", {"reader": reader, "customer": ref.to_dict()}, durable=False)

    def _on_removed(self, reader: str) -> None:
        assert self._publish is not None
        self._publish("card.ic.removed", {"reader": reader}, durable=False)


def build_card_units(
    idcard: IdCardConfig,
    iccard: IcCardConfig,
    *,
    home: Path,
    demo: bool,
    closers: list[Callable[[], None]],
    demo_every: float = 20.0,
    key: bytes | None = None,
    simulators: dict[str, Any] | None = None,
) -> list[IdCardUnit | IcCardUnit]:
    """The enabled card units.

    In demo mode (or with ``port = "sim://"``) the ID-card reader is a simulated SAM module on a pty
    (under ``home/idcard``) with demo cards placed in turn; its stop is appended to ``closers`` and
    the module is put in ``simulators`` under the unit's name (``device.simulate`` pulls its cable).
    ``key`` defaults to the hall's secret key, read when a unit starts."""
    units: list[IdCardUnit | IcCardUnit] = []
    if idcard.enabled:
        if demo or idcard.port.startswith("sim://"):
            from drivers.idcard.sim import SamModule, run_demo

            module = SamModule(home / "idcard").start()
            stop = threading.Event()
            threading.Thread(
                target=run_demo, args=(module, stop), kwargs={"every": demo_every}, name="demo-idcard", daemon=True
            ).start()
            closers.append(stop.set)
            closers.append(module.stop)
            if simulators is not None:
                simulators[idcard.name] = module
            idcard = idcard.model_copy(update={"port": module.url})
        units.append(IdCardUnit(idcard, key=key))
    if iccard.enabled:
        units.append(IcCardUnit(iccard, key=key))
    return units


# -- field checks (``hall devices idcard read``, ``hall devices test idcard|iccard``) ----------------


def describe_cards(idcard: IdCardConfig, iccard: IcCardConfig) -> list[dict[str, Any]]:
    """Rows for ``hall devices list``, without opening anything."""
    rows: list[dict[str, Any]] = []
    if idcard.enabled:
        rows.append({"device": idcard.name, "kind": "sam-serial", "target": idcard.port})
    if iccard.enabled:
        rows.append({"device": iccard.name, "kind": "pcsc", "target": f"readers ~ {iccard.reader_pattern}"})
    return rows


def read_id_card(url: str, *, timeout: float = 15.0, baudrate: int = 115200) -> dict[str, Any]:
    """Wait up to ``timeout`` seconds for a card on the reader at ``url``; its :func:`id_card_fields`.

    Raises :class:`~drivers.errors.DeviceUnavailable` (port), :class:`~drivers.errors.DeviceTimeout` (no card)
    or :class:`~drivers.errors.CardDataError` (unusable card).
    """
    from drivers.idcard.reader import IdCardReader

    reader = IdCardReader(url, baudrate=baudrate)
    try:
        card = reader.read_card(timeout)
    finally:
        reader.close()
    return {"reader": url, **id_card_fields(card)}


def read_ic_card(config: IcCardConfig, *, timeout: float = 15.0) -> dict[str, Any]:
    """Wait up to ``timeout`` seconds for a card in a matching PC/SC reader and read it with the profile.

    Returns the reader and the account masked (first and last 4 kept); raises
    :class:`~drivers.errors.DeviceTimeout` when no card was read in time, with the watcher's last state.
    """
    import time

    from drivers.errors import DeviceTimeout
    from drivers.iccard.reader import IcCardWatcher
    from edge.identity import mask_number

    got: list[tuple[str, str]] = []
    watcher = IcCardWatcher(
        config.profile,
        reader_pattern=config.reader_pattern,
        on_card=lambda r, a: got.append((r, a)),
        poll_interval=0.2,
        lock_wait=config.lock_wait_s,
    )
    runner = watcher.runner("iccard-check")
    runner.start()
    deadline = time.monotonic() + timeout
    try:
        while not got and time.monotonic() < deadline:
            runner.stop_event.wait(0.05)
    finally:
        runner.stop(5)
    if not got:
        health = watcher.health()
        raise DeviceTimeout(
            f"no IC card was read within {timeout} s ({health.state}: {health.detail}; {health.counters})"
        )
    reader, account = got[0]
    return {"reader": reader, "account_masked": mask_number(account), "profile": config.profile.name}
