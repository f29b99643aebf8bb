"""Matching faces against the gallery in memory: per purpose, by vote on cameras, once per visit.

:class:`GalleryIndex` holds the live entries' embeddings for one process
(a camera worker), loaded once and kept current by the gallery's change log;
a search names the purpose it serves and sees only the entries consented to
it. :func:`best_two` gives the best entry and the best of any other, so a
decision can abstain when two customers are close. :class:`Voter` decides over
several frames of one person track: it names an entry only when most recent
frames agree above the threshold and clearly above the runner-up.
:class:`Visits` lets each customer arrive once per visit.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vision.gallery import Gallery

ID_DTYPE = "<U64"  # entry ids are 32 hex digits
MATCH_THRESHOLD = 0.55  # calibrated with vision.embed.SAME_THRESHOLD; see vision/MODELS.md
MATCH_MARGIN = 0.08  # best must beat the second-best entry by this much


class GalleryIndex:
    """The live gallery in memory for matching: loaded once, then kept current by :meth:`apply`.

    ``ids`` names the entry of each row of ``matrix``; ``purposes`` and ``who`` are per entry.
    """

    def __init__(self) -> None:
        self.ids: np.ndarray = np.asarray([], dtype=ID_DTYPE)
        self.matrix = np.zeros((0, 192), np.float32)
        self.who: dict[str, str] = {}
        self.purposes: dict[str, frozenset[str]] = {}
        self.seq = 0
        self._masks: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, gallery: Gallery) -> GalleryIndex:
        """Every live entry, and the change it is current to."""
        index = cls()
        index.seq = gallery.last_change()
        for e in gallery.entries():
            got = gallery.entry(e.id)
            if got is not None:
                index.add(e.id, got[1], str(e.consent.get("who", "")), e.purposes)
        return index

    def __len__(self) -> int:
        return len(self.who)

    def count(self, purpose: str) -> int:
        """How many entries consented to ``purpose``."""
        return sum(1 for p in self.purposes.values() if purpose in p)

    def add(self, entry_id: str, vectors: np.ndarray, who: str, purposes: tuple[str, ...] | frozenset[str]) -> None:
        """Add (or replace) one entry."""
        self.remove(entry_id)
        vecs = np.asarray(vectors, dtype=np.float32).reshape(-1, 192)
        self.ids = np.concatenate([self.ids, np.asarray([entry_id] * len(vecs), dtype=ID_DTYPE)])
        self.matrix = np.vstack([self.matrix, vecs])
        self.who[entry_id] = who
        self.purposes[entry_id] = frozenset(purposes)
        self._masks.clear()

    def remove(self, entry_id: str) -> bool:
        if entry_id not in self.who:
            return False
        keep = self.ids != entry_id
        self.ids, self.matrix = self.ids[keep], self.matrix[keep]
        del self.who[entry_id]
        del self.purposes[entry_id]
        self._masks.clear()
        return True

    def apply(self, gallery: Gallery, changes: list[tuple[int, str, str]]) -> int:
        """Apply ``(seq, op, entry)`` changes newer than this index (reading only enrolled entries)."""
        applied = 0
        for seq, op, entry_id in changes:
            if seq <= self.seq:
                continue
            self.seq = seq
            applied += 1
            if op == "removed":
                self.remove(entry_id)
                continue
            got = gallery.entry(entry_id)
            if got is not None:
                entry, vectors = got
                self.add(entry_id, vectors, str(entry.consent.get("who", "")), entry.purposes)
        return applied

    def _rows(self, purpose: str | None) -> tuple[np.ndarray, np.ndarray]:
        if purpose is None:
            return self.ids, self.matrix
        mask = self._masks.get(purpose)
        if mask is None:
            allowed = [e for e, p in self.purposes.items() if purpose in p]
            mask = self._masks[purpose] = np.isin(self.ids, np.asarray(allowed, dtype=ID_DTYPE))
        return self.ids[mask], self.matrix[mask]

    def best_two(self, probe: np.ndarray, purpose: str | None = None) -> tuple[str | None, float, float]:
        """:func:`best_two` among the entries consented to ``purpose`` (all entries for None)."""
        ids, matrix = self._rows(purpose)
        return best_two(ids, matrix, probe)


def best_two(ids: list[str] | np.ndarray, matrix: np.ndarray, probe: np.ndarray) -> tuple[str | None, float, float]:
    """The best entry for ``probe``, its similarity, and the best similarity of any other entry.

    ``ids`` names the entry of each matrix row; pass it as a numpy array to match many probes fast.
    """
    if len(ids) == 0:
        return None, -1.0, -1.0
    names = ids if isinstance(ids, np.ndarray) else np.asarray(ids)
    sims = matrix @ probe
    best = int(np.argmax(sims))
    others = names != names[best]
    second = float(sims[others].max()) if others.any() else -1.0
    return str(names[best]), float(sims[best]), second


def decide(best: str | None, sim: float, second: float, threshold: float = MATCH_THRESHOLD) -> str:
    """``"match"``, ``"unknown"`` (below the threshold) or ``"unsure"`` (another entry too close)."""
    if best is None or sim < threshold:
        return "unknown"
    if sim - second < MATCH_MARGIN:
        return "unsure"
    return "match"


class Voter:
    """Per-track decision over the last ``window`` face frames; abstains (None) unless ``need`` agree."""

    def __init__(self, window: int = 5, need: int = 3, threshold: float = MATCH_THRESHOLD) -> None:
        self.votes: deque[str | None] = deque(maxlen=window)
        self.need = need
        self.threshold = threshold

    def add(self, best: str | None, sim: float, second: float) -> str | None:
        ok = decide(best, sim, second, self.threshold) == "match"
        self.votes.append(best if ok else None)
        top = Counter(v for v in self.votes if v is not None).most_common(1)
        if top and top[0][1] >= self.need and top[0][1] > len(self.votes) - top[0][1]:
            return top[0][0]
        return None


class Visits:
    """A customer arrives once per visit: again only after ``gap_s`` without being seen."""

    def __init__(self, gap_s: float = 3 * 3600.0) -> None:
        self.gap_s = gap_s
        self.last_seen: dict[str, float] = {}

    def arrived(self, entry_id: str, t: float) -> bool:
        last = self.last_seen.get(entry_id)
        self.last_seen[entry_id] = t
        return last is None or t - last >= self.gap_s
