"""Form templates (the hall's defaults, or HQ's) and the values a clerk fills into one.

:func:`defaults` are the demo businesses' forms (``forms.json``: a change of
account holder and of tariff for 变更用电, a new connection for 业扩报装); a
bundle from HQ that carries forms replaces them. :func:`fill` checks a clerk's
values against a template and returns the form's fields as the record keeps
them, in the template's order, each with its label::

    >>> name_change = next(t for t in defaults() if t.id == "name_change")
    >>> fields = fill(name_change, {"account": "3301004277", "old_name": "王五", "new_name": "赵六",
    ...     "new_holder_id": {"masked": "1101**********1234", "hash": "ab" * 32},
    ...     "phone": "13800138000", "address": "解放路36号", "reason": "继承"})
    >>> [(f["label"], f["value"]) for f in fields][:2]
    [('户号', '3301004277'), ('原户名', '王五')]

No identity number is ever kept in clear: an ``id`` field keeps the masked form
and the hall's keyed hash only, and a text that looks like an identity number
is refused with a message that says where to put it.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from pydantic import TypeAdapter, ValidationError

from edge.errors import InvalidRequest, StorageError
from edge.schemas.records import FormTemplate, IdValue

ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "number": (re.compile(r"^\d{1,9}(\.\d{1,3})?$"), "a number such as 8 or 12.5"),
    "phone": (re.compile(r"^(1\d{10}|0\d{2,3}-?\d{7,8})$"), "a mobile (11 digits) or landline number"),
    "date": (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "a date written YYYY-MM-DD"),
    "account": (re.compile(r"^[0-9A-Za-z-]{4,32}$"), "4 to 32 letters, digits or dashes"),
}


@cache
def defaults() -> tuple[FormTemplate, ...]:
    """The hall's own form templates (used while HQ's bundle carries none)."""
    try:
        raw = json.loads(resources.files("edge.records").joinpath("forms.json").read_text(encoding="utf-8"))
        return tuple(TypeAdapter(list[FormTemplate]).validate_python(raw))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise StorageError(f"the default form templates (edge/records/forms.json) are broken: {exc}") from exc


def _name(field: Any) -> str:
    return f"{field.label} ({field.key})"


def fill(template: FormTemplate, values: dict[str, str | IdValue | dict[str, Any]]) -> list[dict[str, Any]]:
    """The template's fields with the clerk's ``values``; :class:`InvalidRequest` naming the first bad one."""
    unknown = sorted(set(values) - {f.key for f in template.fields})
    if unknown:
        raise InvalidRequest(f"form {template.id} has no field {', '.join(unknown)}")
    out: list[dict[str, Any]] = []
    for field in template.fields:
        raw = values.get(field.key)
        entry: dict[str, Any] = {"key": field.key, "label": field.label, "label_en": field.label_en}
        if field.format == "id":
            if raw is None or raw == "":
                if field.required:
                    raise InvalidRequest(f"{_name(field)} is required")
                entry["value"] = ""
            else:
                if isinstance(raw, str):
                    raise InvalidRequest(
                        f"{_name(field)} takes an identity number as its masked form and keyed hash, never the number"
                    )
                ref = raw if isinstance(raw, IdValue) else IdValue.model_validate(raw)
                if sum(ch.isdigit() for ch in ref.masked) > 8:
                    raise InvalidRequest(f"{_name(field)}: the masked form shows too many digits")
                entry["value"], entry["hash"] = ref.masked, ref.hash
            out.append(entry)
            continue
        if not isinstance(raw, str | None):
            raise InvalidRequest(f"{_name(field)} takes text")
        value = (raw or "").strip()
        if not value:
            if field.required:
                raise InvalidRequest(f"{_name(field)} is required")
        elif len(value) > field.max_length:
            raise InvalidRequest(f"{_name(field)} is longer than {field.max_length} characters")
        elif CONTROL.search(value):
            raise InvalidRequest(f"{_name(field)} holds a control character")
        elif ID_IN_TEXT.search(value):
            raise InvalidRequest(
                f"{_name(field)} looks like an identity number: put it in an ID field, which keeps only its masked form"
            )
        elif field.format == "choice" and value not in field.choices:
            raise InvalidRequest(f"{_name(field)} must be one of {', '.join(field.choices)}")
        elif field.format in FORMATS:
            pattern, what = FORMATS[field.format]
            if not pattern.match(value):
                raise InvalidRequest(f"{_name(field)} must be {what}")
            if field.format == "date":
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise InvalidRequest(f"{_name(field)}: {value} is not a date") from None
        entry["value"] = value
        out.append(entry)
    return out
