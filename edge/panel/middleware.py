"""What wraps every request of the panel: a body limit, security headers, and the HTTP-to-HTTPS redirect.

A body larger than the limit is refused with 413 before it is read (by its
``Content-Length``) or as soon as it passes the limit (chunked), so nothing a
client sends can fill the disk or the memory of the box.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
HOST_RE = re.compile(r"^[A-Za-z0-9.\-]{1,253}$|^\[[0-9A-Fa-f:.]{2,45}\]$")


class BodyTooLarge(Exception):
    """Raised into the app from ``receive`` when a streamed body passes the limit."""


async def send_json(
    send: Send, status: int, body: dict[str, str], headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self) -> dict[str, str]:
        kib = self.max_bytes // 1024
        return {"error": f"请求内容过大（上限 {kib} KB）(request body larger than {kib} KiB)", "code": "too_large"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await send_json(send, 400, {"error": "Content-Length is not a number", "code": "invalid"})
                return
            if int(length) > self.max_bytes:
                await send_json(send, 413, self._refusal())
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await send_json(send, 413, self._refusal())


class SecurityHeaders:
    """Adds CSP and friends to every response; no caching of anything but static assets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapped)


class RedirectToHttps:
    """The plain-HTTP listener: every request is sent to the same path over HTTPS (308), nothing else is served.

    The host is the configured listening address, or, when the panel listens on
    every address, the host name the browser asked for (when it is a plain name).
    """

    def __init__(self, host: str, https_port: int) -> None:
        self.host = None if host in ("0.0.0.0", "::", "") else host
        self.port = https_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        asked = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
        name = asked.rsplit(":", 1)[0] if not asked.endswith("]") else asked
        host = self.host or (name if HOST_RE.match(name) else "localhost")
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        query = scope.get("query_string", b"").decode("latin-1")
        path = (scope.get("raw_path") or scope.get("path", "/").encode()).decode("latin-1")
        target = f"https://{host}:{self.port}{path}" + (f"?{query}" if query else "")
        body = json.dumps({"error": "请使用 HTTPS (use HTTPS)", "location": target}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [
                    (b"location", target.encode("latin-1", "replace")),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
