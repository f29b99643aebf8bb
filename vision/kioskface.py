"""The kiosk camera's face work: a ticket by face (1:N, confirmed on screen) and enrolment after consent.

Runs in the worker of the camera facing a kiosk (``kiosk = "<id>"``, faces
on), and only while a customer asked for it: :meth:`KioskFaces.identify` after
the kiosk's ``face.match_requested``, :meth:`KioskFaces.enrol` after a
``consent.recorded`` grant. Each runs a :class:`~vision.capture.Capture`
(one live face, prompts to the kiosk as ``face.progress``), then:

- **identify**: the mean of the captured embeddings against the entries
  consented to ``ticket`` only. A clear best (``match_threshold`` and
  ``MATCH_MARGIN`` above the next customer) becomes ``face.candidate`` with the
  customer's keyed reference, masked card and name, HQ's display name and tags
  (``bundle.lookup``); the kiosk asks the customer to confirm. Anything else is
  ``face.abstained`` with a code and a sentence, and the kiosk offers the ID card.
- **enrol**: three captures that agree, of a face not already enrolled for
  another card, become a gallery entry for the consented purposes; the
  answer is ``face.enrolled`` or ``face.enroll_failed`` with the reason.

Every outcome is written to the audit (:mod:`vision.audit`) before its event
is published. A new request replaces one still running (which abstains as
``busy``). Frames are never kept; embeddings live only until the decision.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vision.analysis import Fact
from vision.audit import AuditError, AuditLog
from vision.capture import Capture, Captured
from vision.gallery import Consent, Gallery, GalleryError
from vision.liveness import random_actions
from vision.matching import MATCH_THRESHOLD, GalleryIndex, decide

log = logging.getLogger("hall.vision")
Lookup = Callable[[str], tuple[list[str], str] | None]  # customer hash → (HQ's tags, display name)

ABSTAIN_TEXT = {
    "unknown": "this face is not registered for ticket by face",
    "unsure": "two registered customers look alike: no name is given",
}


@dataclass
class Job:
    kind: str  # "identify" or "enrol"
    kiosk: str
    request: str
    capture: Capture
    customer: dict[str, str] | None = None
    consent: dict[str, Any] | None = None


class KioskFaces:
    def __init__(
        self,
        camera: str,
        gallery: Gallery,
        index: GalleryIndex,
        audit: AuditLog,
        *,
        models: Any,
        retention_days: int,
        lookup: Lookup | None = None,
        match_threshold: float | None = None,
        timeout_s: float = 20.0,
        rng: random.Random | None = None,
    ) -> None:
        self.camera = camera
        self.gallery = gallery
        self.index = index
        self.audit = audit
        self.models = models
        self.retention_days = retention_days
        self.lookup = lookup
        self.threshold = MATCH_THRESHOLD if match_threshold is None else match_threshold
        self.timeout_s = timeout_s
        self.rng = rng
        self.job: Job | None = None

    @property
    def busy(self) -> bool:
        return self.job is not None

    def _start(self, job_kind: str, kiosk: str, request: str, t: float, **extra: Any) -> list[Fact]:
        facts = self._abandon("busy", "another customer started at this kiosk") if self.job else []
        capture = Capture(random_actions(self.rng), started=t, timeout_s=self.timeout_s, models=self.models)
        self.job = Job(job_kind, kiosk, request, capture, **extra)
        return [*facts, self._progress("look")]

    def identify(self, kiosk: str, request: str, t: float) -> list[Fact]:
        """Start a ticket-by-face session for ``request`` at ``kiosk``."""
        return self._start("identify", kiosk, request, t)

    def enrol(
        self, kiosk: str, request: str, t: float, customer: dict[str, str], consent: dict[str, Any]
    ) -> list[Fact]:
        """Start an enrolment for a customer who just consented (``consent``: when, purposes)."""
        return self._start("enrol", kiosk, request, t, customer=customer, consent=consent)

    def step(self, frame: np.ndarray, t: float) -> list[Fact]:
        job = self.job
        if job is None:
            return []
        prompt = job.capture.step(frame, t)
        facts = [self._progress(prompt)] if prompt else []
        result = job.capture.result
        if result is None:
            return facts
        self.job = None
        try:
            if job.kind == "identify":
                return facts + self._identified(job, result)
            return facts + self._enrolled(job, result)
        except AuditError as exc:  # no decision is published that is not audited: the card instead
            log.error("kiosk %s: %s", job.kiosk, exc)
            reason = "the face service cannot record its decisions now"
            if job.kind == "identify":
                data = {**self._base(job), "code": "unavailable", "reason": reason}
                return [*facts, Fact("face.abstained", data, durable=False)]
            customer = (job.customer or {}).get("masked", "")
            data = {**self._base(job), "customer": customer, "code": "unavailable", "reason": reason}
            return [*facts, Fact("face.enroll_failed", data, durable=False)]

    # -- outcomes ---------------------------------------------------------------
    def _base(self, job: Job) -> dict[str, Any]:
        return {"kiosk": job.kiosk, "request": job.request, "source": f"camera:{self.camera}"}

    def _progress(self, step: str) -> Fact:
        assert self.job is not None
        return Fact("face.progress", {**self._base(self.job), "step": step}, durable=False)

    def _place(self, job: Job) -> str:
        return f"kiosk:{job.kiosk}"

    def _abandon(self, code: str, reason: str) -> list[Fact]:
        job, self.job = self.job, None
        if job is None:
            return []
        if job.kind == "identify":
            return [self._abstain(job, code, reason)]
        return self._enrol_failed(job, code, reason)

    def _abstain(self, job: Job, code: str, reason: str, score: float | None = None) -> Fact:
        decision = "refused" if code in ("liveness", "changed", "several_faces") else "abstained"
        self.audit.record(
            place=self._place(job),
            purpose="ticket",
            decision=decision,
            score=score,
            reason=f"{code}: {reason}",
            request=job.request,
        )
        return Fact("face.abstained", {**self._base(job), "code": code, "reason": reason}, durable=False)

    def _identified(self, job: Job, result: Captured) -> list[Fact]:
        if not result.ok:
            return [self._abstain(job, result.code, result.reason)]
        best, sim, second = self.index.best_two(result.mean, "ticket")
        verdict = decide(best, sim, second, self.threshold)
        got = self.gallery.entry(best) if verdict == "match" and best is not None else None
        if got is None:
            code = "unknown" if verdict != "unsure" else "unsure"
            return [self._abstain(job, code, ABSTAIN_TEXT[code], score=sim if best else None)]
        entry, _ = got
        tags: list[str] = []
        display = ""
        if self.lookup is not None:
            found = self.lookup(entry.ref)
            if found is not None:
                tags, display = found
        self.audit.record(
            place=self._place(job),
            purpose="ticket",
            decision="candidate",
            ref=entry.ref,
            score=sim,
            reason=f"margin {sim - second:.3f} over the next customer",
            request=job.request,
        )
        customer = {k: entry.customer.get(k, "") for k in ("kind", "hash", "masked", "name_masked")}
        data = {**self._base(job), "customer": customer, "display_name": display[:32], "tags": tags[:16]}
        return [Fact("face.candidate", data, durable=False)]

    def _enrol_failed(self, job: Job, code: str, reason: str) -> list[Fact]:
        customer = job.customer or {}
        self.audit.record(
            place=self._place(job),
            purpose="enrolment",
            decision="refused",
            ref=customer.get("hash", ""),
            reason=f"{code}: {reason}",
            request=job.request,
        )
        data = {**self._base(job), "customer": customer.get("masked", ""), "code": code, "reason": reason}
        return [Fact("face.enroll_failed", data, durable=False)]

    def _enrolled(self, job: Job, result: Captured) -> list[Fact]:
        customer = job.customer or {}
        if not result.ok:
            return self._enrol_failed(job, result.code, result.reason)
        vectors = result.vectors[:5]
        best, sim, _ = self.index.best_two(result.mean)
        if best is not None and sim >= self.threshold:
            got = self.gallery.entry(best)
            if got is not None and got[0].ref != customer.get("hash"):
                return self._enrol_failed(job, "changed", "this face is already registered with another ID card")
        consent_data = job.consent or {}
        who = customer.get("name_masked") or customer.get("masked") or "customer"
        try:
            consent = Consent(
                who=who,
                when=str(consent_data.get("when", "")),
                purposes=list(consent_data.get("purposes", [])),
                screen=job.kiosk,
            )
            entry = self.gallery.enroll(vectors, consent, customer, self.retention_days)
        except (GalleryError, ValueError) as exc:
            return self._enrol_failed(job, "quality", str(exc)[:200])
        self.index.add(entry, vectors, who, tuple(consent.purposes))  # matched from the next frame
        self.audit.record(
            place=self._place(job),
            purpose="enrolment",
            decision="enrolled",
            ref=customer.get("hash", ""),
            reason=f"{len(vectors)} captures, purposes {', '.join(consent.purposes)}",
            request=job.request,
        )
        data = {**self._base(job), "customer": customer.get("masked", ""), "entry": entry}
        return [Fact("face.enrolled", data, durable=False)]
