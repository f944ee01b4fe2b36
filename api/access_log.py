"""Every request: a request id, a metric and one JSON access-log line.

`X-Request-Id` is taken from the request when it is sane (1-128 characters of
`A-Z a-z 0-9 . _ : -`), else one is made (32 hex digits); it is echoed on every response
and is the `request_id` of every problem (api/problems.py reads it from the request's state).

The access log (logger `fundcenter.access`) writes one JSON object per request:
`method`, `path` (the route's template, never the query), `status`, `latency_ms`,
`request_id` and `key_id` (the API key's id, once authenticated; else null). Never the
Authorization header, other headers or bodies.
"""

from __future__ import annotations

import logging
import os
import random
import re
import sys
import time as clock
from typing import Any

import orjson

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_LENGTH_MAX = 128
REQUEST_ID_PATTERN = rf"[A-Za-z0-9._:-]{{1,{REQUEST_ID_LENGTH_MAX}}}"
_SANE = re.compile(REQUEST_ID_PATTERN)
log = logging.getLogger("fundcenter.access")
# Request ids need to be unique, not secret: drawn from a generator seeded once from the system's
# randomness (per process: `serve --workers` spawns, and each reseeds here), not from `uuid.uuid4()`,
# whose `os.urandom` call on the event loop is a system call that lets the writer's and the pool's
# threads take the GIL, and the loop waits for it back (a tenth of the loop's time in a profile).
_ids = random.Random(os.urandom(32))


def configure() -> None:
    """Lines go to standard output, one JSON object each (standard error keeps the service's
    warnings and errors), whatever the root logger does (uvicorn's level "warning" included);
    once per process, unless the logger was given a handler of its own."""
    if not log.handlers:
        handler = _Stdout()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


class _Stdout(logging.StreamHandler):
    """A handler on whatever `sys.stdout` is when a line is written (a test runner swaps it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE.fullmatch(text):
                return text
            break
    return f"{_ids.getrandbits(128):032x}"


class AccessLog:
    """Pure ASGI middleware: the request id, the request's metric (by route template) and its log line."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = clock.perf_counter(), [500]
        request_id = request_id_of(scope.get("headers") or [])
        state = scope.setdefault("state", {})
        state["request_id"] = request_id

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = clock.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            services = getattr(scope["app"].state, "services", None)
            if services is not None:
                services.metrics.observe(scope["method"], route, status[0], seconds)
            if log.isEnabledFor(logging.INFO):
                log.info(orjson.dumps({
                    "method": scope["method"], "path": route, "status": status[0],
                    "latency_ms": round(seconds * 1000, 3), "request_id": request_id, "key_id": state.get("key_id"),
                }).decode())
