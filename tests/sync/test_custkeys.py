"""Customer keys at HQ: a hall or region given its first key keeps accepting the wider key it used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.hq import custkeys
from sync.hq.store import Store, open_store

T = 1_800_000_000.0
DAY = 86400.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "hq.db"), key_file=tmp_path / "hq.key")
    for hall in ("gz-01", "gz-02"):
        s.add_hall(hall, bytes(32), region="广州")
    yield s
    s.close()


def _ids(store: Store, hall: str, at: float) -> list[tuple[str, bool, float | None]]:
    return [(k["id"], k["current"], k["until"]) for k in custkeys.keys_for(store, hall, now=at)]


def test_a_halls_first_key_keeps_its_regions_key_accepted_through_the_overlap(store: Store) -> None:
    region = custkeys.rotate(store, "region:广州", now=T)
    assert _ids(store, "gz-01", T + 1) == [(region, True, None)]  # nothing wider was in force before it
    card_before = custkeys.keyring(store, "gz-01", now=T + 1).ref("id", "11010519491231002X").hash

    own = custkeys.rotate(store, "hall:gz-01", overlap_s=7 * DAY, now=T + DAY)
    (first, kept) = custkeys.keys_for(store, "gz-01", now=T + 2 * DAY)
    assert (first["id"], first["current"]) == (own, True)
    assert (kept["current"], kept["until"]) == (False, T + 8 * DAY)  # the overlap asked for, from the rotation
    ring = custkeys.keyring(store, "gz-01", now=T + 2 * DAY)
    card = ring.ref("id", "11010519491231002X", now=T + 2 * DAY)
    assert card.hash != card_before and card.also == (card_before,)  # a card hashed before still matches
    assert _ids(store, "gz-01", T + 8 * DAY + 1) == [(own, True, None)]  # and no longer once the overlap ends
    assert _ids(store, "gz-02", T + 2 * DAY) == [(region, True, None)]  # the region's other hall is untouched
    listed = {row["id"]: (row["scope"], row["state"]) for row in custkeys.listing(store, now=T + 2 * DAY)}
    assert listed[kept["id"]] == ("hall:gz-01", "accepted")


def test_a_first_key_with_no_overlap_keeps_nothing(store: Store) -> None:
    custkeys.rotate(store, "all", now=T)
    region = custkeys.rotate(store, "region:广州", overlap_s=0, now=T + 1)
    assert _ids(store, "gz-02", T + 2) == [(region, True, None)]


def test_a_regions_first_key_keeps_the_fleets_key_accepted(store: Store) -> None:
    fleet = custkeys.rotate(store, "all", now=T)
    before = custkeys.keyring(store, "gz-02", now=T + 1).ref("ic", "3301004277123").hash
    region = custkeys.rotate(store, "region:广州", now=T + 1)
    ring = custkeys.keyring(store, "gz-02", now=T + 2)
    assert ring.current.id == region and ring.ref("ic", "3301004277123", now=T + 2).also == (before,)
    assert [k.until for k in ring.previous] == [T + 1 + 30 * DAY]  # the default overlap
    assert fleet not in {k.id for k in ring.previous}  # a copy under the region's scope: the fleet's stays in force
