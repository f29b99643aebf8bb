"""The box's HTTP client of the HQ sync API: signed, gzip-compressed, verified answers.

Transport failures (refused connection, reset, timeout, a broken answer, HQ's
5xx) become :class:`~sync.errors.LinkDown`; HQ's refusals :class:`~sync.errors.Refused`
(:class:`~sync.errors.GapRefused` for a gap, naming HQ's cursor;
:class:`~sync.errors.BatchRefused` for a batch HQ finds inconsistent, naming the
lane, seq and field). An answer not
signed with the hall's key is refused as :class:`~sync.errors.AuthError`. The
``transport`` is injectable (httpx), as in httpx's own ``MockTransport``.
"""

from __future__ import annotations

import gzip
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from sync import auth
from sync.config import Credential
from sync.errors import BatchRefused, GapRefused, LinkDown, Refused


def encode_batch(lane: str, after: int, head: int, events: list[dict[str, Any]]) -> bytes:
    """A batch as it is sent: compact JSON, gzip-compressed (level 1: fast, and most of the gain).

    An event's ``data`` may be JSON text already (an object, as the log holds it): it is put in as it is.

        >>> import gzip, json
        >>> ev = {"v": 1, "id": "e1", "ts": "t", "source": "core", "topic": "a.b", "data": '{"n":1}', "seq": 1}
        >>> json.loads(gzip.decompress(encode_batch("records", 0, 1, [ev])))["events"][0]["data"]
        {'n': 1}
    """
    parts = []
    for e in events:
        data = e["data"]
        if not isinstance(data, str):
            data = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        fields = json.dumps({k: v for k, v in e.items() if k != "data"}, ensure_ascii=False, separators=(",", ":"))
        parts.append(f'{fields[:-1]},"data":{data}}}')
    text = f'{{"lane":{json.dumps(lane)},"after":{int(after)},"head":{int(head)},"events":[{",".join(parts)}]}}'
    return gzip.compress(text.encode(), compresslevel=1)


class HqClient:
    def __init__(
        self, cred: Credential, *, url: str | None = None, timeout: float = 15.0, transport: Any = None
    ) -> None:
        self.cred = cred
        self.base = (url or cred.url).rstrip("/")
        self.prefix = urlsplit(self.base).path.rstrip("/")
        self.http = httpx.Client(base_url=self.base, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HqClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None, *, compress: bool = False) -> tuple[int, Any]:
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if compress and raw:
            return self._send(method, path, gzip.compress(raw, compresslevel=1), gzipped=True)
        return self._send(method, path, raw, gzipped=False)

    def _send(self, method: str, path: str, raw: bytes, *, gzipped: bool) -> tuple[int, Any]:
        headers = {"content-type": "application/json"}
        if gzipped:
            headers["content-encoding"] = "gzip"
        signed = auth.sign_request(self.cred.key, method, self.prefix + path, self.cred.hall, raw)
        headers.update(signed)
        try:
            resp = self.http.request(method, path, content=raw, headers=headers)
            content = resp.content
        except httpx.HTTPError as exc:
            raise LinkDown(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 500:
            raise LinkDown(f"{method} {path}: HQ answered {resp.status_code}: {resp.text[:300]}")
        if resp.status_code != 401:
            auth.verify_response(
                self.cred.key, signed[auth.H_NONCE], resp.status_code, content, resp.headers.get(auth.H_RESPONSE_SIG)
            )
        try:
            data = json.loads(content) if content else None
        except ValueError as exc:
            raise LinkDown(f"{method} {path}: answer is not JSON") from exc
        return resp.status_code, data

    def _detail(self, data: Any) -> str:
        return str(data.get("detail")) if isinstance(data, dict) else str(data)

    def send_batch(self, lane: str, after: int, head: int, events: list[dict[str, Any]]) -> int:
        """Send one lane's events following ``after``; return HQ's cursor of the lane."""
        return self.send_encoded(lane, encode_batch(lane, after, head, events))

    def send_encoded(self, lane: str, body: bytes) -> int:
        """Send a batch of ``lane`` already encoded by :func:`encode_batch`; return HQ's cursor of the lane."""
        status, data = self._send("POST", f"/v1/halls/{self.cred.hall}/events", body, gzipped=True)
        if status == 200:
            return int(data["cursor"])
        if status == 409 and isinstance(data, dict) and isinstance(data.get("cursor"), int):
            raise GapRefused(lane, data["cursor"], self._detail(data))
        if status == 422 and isinstance(data, dict):
            seq, field = data.get("seq"), data.get("field")
            raise BatchRefused(
                lane,
                self._detail(data),
                seq=seq if isinstance(seq, int) else None,
                field=field if isinstance(field, str) else None,
            )
        raise Refused(status, self._detail(data))

    def cursors(self) -> dict[str, int]:
        status, data = self._call("GET", f"/v1/halls/{self.cred.hall}/cursors")
        if status != 200:
            raise Refused(status, self._detail(data))
        return {str(k): int(v) for k, v in data["lanes"].items()}

    def status(self) -> dict[str, Any]:
        status, data = self._call("GET", f"/v1/halls/{self.cred.hall}/status")
        if status != 200:
            raise Refused(status, self._detail(data))
        out: dict[str, Any] = data
        return out

    def bundle(self, after: int) -> dict[str, Any] | None:
        status, data = self._call("GET", f"/v1/halls/{self.cred.hall}/bundle?after={after}")
        if status == 204:
            return None
        if status != 200 or not isinstance(data, dict):
            raise Refused(status, self._detail(data))
        return data

    def customer_keys(self, have: str = "") -> dict[str, Any] | None:
        """The hall's customer keys as HQ wraps them (:mod:`sync.keywrap`); None when ``have`` is still current."""
        status, data = self._call("GET", f"/v1/halls/{self.cred.hall}/customer-keys?have={have}")
        if status == 204:
            return None
        if status != 200 or not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise Refused(status, self._detail(data))
        return data

    def repair_updates(self, after: int) -> list[dict[str, Any]]:
        """HQ's status updates of this hall's repair reports above ``after``, oldest first."""
        status, data = self._call("GET", f"/v1/halls/{self.cred.hall}/repair-updates?after={after}")
        if status != 200 or not isinstance(data, dict) or not isinstance(data.get("updates"), list):
            raise Refused(status, self._detail(data))
        return list(data["updates"])

    def bundle_result(self, version: int, applied: bool, error: str | None) -> None:
        status, data = self._call(
            "POST",
            f"/v1/halls/{self.cred.hall}/bundle-results",
            {"version": version, "applied": applied, "error": error},
        )
        if status != 200:
            raise Refused(status, self._detail(data))
