"""Paperless forms at the counter (无纸化) and the signed records they become.

The clerk fills a form in the panel and pushes it to the counter's pad
(``form.push``); the customer reads and confirms it (``form.confirm``), then signs
by hand (``form.sign``): the core binds the values, the strokes, the ticket,
counter, staff and time into a record with a SHA-256 digest chained to the
day's previous record (see :mod:`edge.records.digest`). The clerk can cancel
(``form.cancel``); the pad withdraws a form left untouched (``form.withdraw``).

A form template (``FormTemplate``) is what HQ's bundle carries (``forms``) and
what the hall's defaults hold: fields with labels, formats and whether they are
required, and the terms the customer agrees to.

    >>> FormField(key="phone", label="联系电话", format="phone").required
    True
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

CounterId = Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")
FormId = Field(pattern=r"^F[0-9a-f]{16}$", description="A pushed form's id.")
RecordId = Field(pattern=r"^R\d{8}-\d{4,6}$", description="A signed record's id, e.g. R20261130-0007.")
Day = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Business day; today if absent.")
Format = Literal["text", "number", "phone", "date", "choice", "id", "account"]
MAX_STROKES = 60
MAX_POINTS = 5_000  # 50 s of handwriting at 100 points a second; a record.signed event stays under 256 KiB


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- templates ------------------------------------------------------------------
class FormField(_Model):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Name of the value in the record.")
    label: str = Field(min_length=1, max_length=32, description="Label shown to clerk and customer.")
    label_en: str = Field("", max_length=48)
    format: Format = Field(
        "text",
        description="text; number; phone; date (YYYY-MM-DD); choice (one of choices); account (customer number); "
        "id (an identity number: only its masked form and keyed hash are kept).",
    )
    required: bool = True
    choices: list[str] = Field(default_factory=list, max_length=20)
    max_length: int = Field(64, ge=1, le=200, description="Longest value accepted (text).")

    @model_validator(mode="after")
    def _choices(self) -> FormField:
        if (self.format == "choice") != bool(self.choices):
            raise ValueError(f"field {self.key}: choices are given exactly when the format is choice")
        if any(not 1 <= len(c) <= 40 for c in self.choices):
            raise ValueError(f"field {self.key}: each choice is 1 to 40 characters")
        return self


class FormTemplate(_Model):
    """A business form: its fields, and the terms the customer agrees to by signing."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    business: str = Field(pattern=r"^[A-Z]$", description="The business it belongs to.")
    title: str = Field(min_length=1, max_length=40)
    title_en: str = Field("", max_length=60)
    fields: list[FormField] = Field(min_length=1, max_length=30)
    terms: list[str] = Field(default_factory=list, max_length=20)
    terms_en: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _shape(self) -> FormTemplate:
        keys = [f.key for f in self.fields]
        if len(set(keys)) != len(keys):
            raise ValueError(f"form {self.id}: a field key appears twice")
        if any(not 1 <= len(t) <= 500 for t in [*self.terms, *self.terms_en]):
            raise ValueError(f"form {self.id}: each term is 1 to 500 characters")
        if self.terms_en and len(self.terms_en) != len(self.terms):
            raise ValueError(f"form {self.id}: terms_en must translate every term, in order")
        return self


# -- requests -------------------------------------------------------------------
class IdValue(_Model):
    """An identity number as a form keeps it: masked, with the hall's keyed hash (edge.identity)."""

    masked: str = Field(min_length=4, max_length=32)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class FormTemplates(_Model):
    business: str | None = Field(None, pattern=r"^[A-Z]$", description="Only this business's forms.")


class FormPush(_Model):
    counter: str = CounterId
    form: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="Template id.")
    values: dict[str, Annotated[str, StringConstraints(max_length=400)] | IdValue] = Field(max_length=30)
    staff: str | None = Field(None, max_length=32, description="Who pushed it (panel user).")


class FormCurrent(_Model):
    counter: str = CounterId


class FormRef(_Model):
    form_id: str = FormId


class Signature(_Model):
    """Handwriting as the pad recorded it, in a box ``width`` × ``height`` (origin top left).

    Each stroke is a list of points ``[x, y, t, p]``: integer position, milliseconds
    since the first touch, and pressure in thousandths (``null`` where the screen
    gives none). Integers only, so the record's digest is the same in any language.
    """

    width: int = Field(ge=100, le=4000)
    height: int = Field(ge=50, le=4000)
    strokes: list[list[list[int | None]]] = Field(min_length=1, max_length=MAX_STROKES)

    @model_validator(mode="after")
    def _points(self) -> Signature:
        total = 0
        for i, stroke in enumerate(self.strokes):
            if not stroke:
                raise ValueError(f"stroke {i} has no points")
            last_t = -1
            for point in stroke:
                if len(point) != 4:
                    raise ValueError(f"stroke {i}: a point is [x, y, t, p]")
                x, y, t, p = point
                if x is None or y is None or t is None:
                    raise ValueError(f"stroke {i}: x, y and t are integers")
                if not (0 <= x <= self.width and 0 <= y <= self.height):
                    raise ValueError(f"stroke {i}: point ({x}, {y}) is outside the {self.width}×{self.height} box")
                if not last_t <= t <= 3_600_000:
                    raise ValueError(f"stroke {i}: times must not go back (ms since the first touch)")
                if p is not None and not 0 <= p <= 1000:
                    raise ValueError(f"stroke {i}: pressure is 0 to 1000")
                last_t = t
            total += len(stroke)
        if total > MAX_POINTS:
            raise ValueError(f"{total} points: a signature has at most {MAX_POINTS}")
        return self


class FormSign(_Model):
    form_id: str = FormId
    signature: Signature


class FormCancel(_Model):
    counter: str = CounterId
    by: str = Field(min_length=1, max_length=32, description="The clerk (panel user).")
    reason: str = Field("", max_length=120)


class FormWithdraw(_Model):
    form_id: str = FormId
    reason: Literal["abandoned"] = Field(description="Why the pad gave the form up.")


class RecordList(_Model):
    day: str | None = Day
    counter: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,16}$")
    limit: int = Field(200, ge=1, le=2000)


class RecordShow(_Model):
    id: str = RecordId


class RecordVerify(_Model):
    day: str | None = Day


REQUESTS: dict[str, type[BaseModel]] = {
    "form.templates": FormTemplates,
    "form.push": FormPush,
    "form.current": FormCurrent,
    "form.confirm": FormRef,
    "form.sign": FormSign,
    "form.cancel": FormCancel,
    "form.withdraw": FormWithdraw,
    "record.list": RecordList,
    "record.show": RecordShow,
    "record.verify": RecordVerify,
}
READS = frozenset({"form.templates", "form.current", "record.list", "record.show", "record.verify"})
EVENTS = frozenset({"form.pushed", "form.confirmed", "form.cancelled", "form.withdrawn", "record.signed"})
