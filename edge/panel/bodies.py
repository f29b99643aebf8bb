"""What the panel reads from request bodies: one JSON object, then the fields each route takes.

:func:`parse` turns a body's bytes into a JSON object, or raises
:class:`~edge.errors.InvalidRequest` with a sentence staff can read, and
nothing else: not UTF-8, not JSON, nested deeper than :data:`MAX_DEPTH`, or
holding a lone UTF-16 surrogate (``"\\ud800"``: valid JSON, but no text a
database or the hall log can store). The readers below take the fields of one
route each, checked for type and length, so a route never handles raw input::

    >>> login(parse(b'{"name": " li ", "password": "secret"}'))
    ('li', 'secret')
    >>> parse(b'{"name": "\\\\ud800"}')
    Traceback (most recent call last):
    ...
    edge.errors.InvalidRequest: 请求含有无效的文字 (body holds a lone UTF-16 surrogate, which is not text)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from edge import envelope
from edge.errors import InvalidRequest
from edge.panel.accounts import MAX_PASSWORD

MAX_DEPTH = 8  # arrays and objects inside one another: the deepest body a route takes has two
COUNTER_FIELDS = {"number": 16, "business": 16, "to_counter": 16, "reason": 64}
_SURROGATE = b"\\u"


def parse(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object; :class:`InvalidRequest` naming why it is not one."""
    try:
        envelope.check_bounds(raw, max_depth=MAX_DEPTH)
    except InvalidRequest as exc:
        why = str(exc).removeprefix("message ")
        if "nests" in why:
            raise InvalidRequest(f"请求的 JSON 嵌套过深 (body {why})") from None
        raise InvalidRequest(f"请求不是有效的 JSON (body {why})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"请求不是 UTF-8 文字 (body is not UTF-8: byte {exc.start} is invalid)") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"请求不是有效的 JSON (body is not JSON: {str(exc)[:80]})") from None
    except RecursionError:  # the bound above keeps this away; never let one out
        raise InvalidRequest("请求的 JSON 嵌套过深 (body nested too deeply)") from None
    if not isinstance(data, dict):
        raise InvalidRequest("请求须为 JSON 对象 (body must be a JSON object)")
    if _SURROGATE in raw:  # only an escape can carry a lone surrogate into the parsed text
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest("请求含有无效的文字 (body holds a lone UTF-16 surrogate, which is not text)") from None
    return data


def text(data: dict[str, Any], key: str, *, limit: int, default: str = "") -> str:
    """A text field of a request body, refused when it is not text or longer than ``limit``."""
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidRequest(f"{key} 须为文字 ({key} must be text)")
    if len(value) > limit:
        raise InvalidRequest(f"{key} 最长 {limit} 个字符 ({key} is longer than {limit} characters)")
    return value


def login(data: dict[str, Any]) -> tuple[str, str]:
    """``/api/login``: the name (stripped) and the password; their lengths are the sign-in rules' to judge."""
    name, password = data.get("name", ""), data.get("password", "")
    if not isinstance(name, str) or not isinstance(password, str):
        raise InvalidRequest("用户名和密码须为文字 (name and password must be text)")
    return name.strip(), password


def setup(data: dict[str, Any]) -> tuple[str, str, str]:
    """``/api/setup``: the one-time token, the first manager's name and password."""
    return text(data, "token", limit=64), text(data, "name", limit=32), text(data, "password", limit=MAX_PASSWORD)


def new_user(data: dict[str, Any]) -> tuple[str, str, str, str]:
    """``POST /api/users``: name, role (default staff), password and display name."""
    return (
        text(data, "name", limit=32),
        text(data, "role", limit=16, default="staff"),
        text(data, "password", limit=MAX_PASSWORD),
        text(data, "display", limit=32),
    )


def counter_fields(data: dict[str, Any]) -> dict[str, str]:
    """``/api/counters/{cid}/{action}``: the fields passed on to the core, each checked for type and length."""
    return {key: text(data, key, limit=limit) for key, limit in COUNTER_FIELDS.items() if data.get(key) is not None}


def rules(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``PUT /api/rules``: each rule's ``enabled`` and ``threshold`` (their values are the core's to check)."""
    if not all(isinstance(v, dict) for v in data.values()):
        raise InvalidRequest("each rule must be an object with enabled and threshold")
    return {k: {"enabled": v.get("enabled"), "threshold": v.get("threshold")} for k, v in data.items()}


def note(data: dict[str, Any]) -> str:
    """``/api/alerts/{id}/ack``: the acknowledgement's note."""
    return text(data, "note", limit=120)


def disabled(data: dict[str, Any]) -> bool:
    """``/api/users/{name}/disable``: true (the default) or false."""
    value = data.get("disabled", True)
    if not isinstance(value, bool):
        raise InvalidRequest("disabled 须为 true 或 false (disabled must be true or false)")
    return value


def password(data: dict[str, Any]) -> str:
    """``/api/users/{name}/password``: the new password."""
    return text(data, "password", limit=MAX_PASSWORD)


def form_push(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``POST /api/counters/{cid}/form``: the template's id and the clerk's values (the core checks each)."""
    form, values = data.get("form"), data.get("values")
    if not isinstance(form, str) or not isinstance(values, dict):
        raise InvalidRequest('send {"form": TEMPLATE_ID, "values": {FIELD: VALUE, …}}')
    return form, values


def cancel_reason(data: dict[str, Any]) -> str:
    """``POST /api/counters/{cid}/form/cancel``: why, cut to 120 characters."""
    return str(data.get("reason", ""))[:120]


def day(data: dict[str, Any]) -> str:
    """``POST /api/reports``: the day to report (empty: today); :func:`edge.report.build.build_report` checks it."""
    return text(data, "day", limit=10)


READERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "/api/login": login,
    "/api/setup": setup,
    "/api/users": new_user,
    "/api/users/{name}/password": password,
    "/api/users/{name}/disable": disabled,
    "/api/counters/{cid}/{action}": counter_fields,
    "/api/rules": rules,
    "/api/alerts/{aid}/ack": note,
    "/api/reports": day,
    "/api/counters/{cid}/form": form_push,
    "/api/counters/{cid}/form/cancel": cancel_reason,
}
"""Every route's reader by path: what a body sent there may hold."""
