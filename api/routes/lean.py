"""A shorter way through FastAPI for the hot money commands, with FastAPI's own way behind it.

FastAPI solves a route's dependencies for every request (the services, the bearer scheme, the
caller, the permission check, the Idempotency-Key header, the body): a generic walk that took
about a third of the event loop's time under load. `LeanRoute` keeps the route as declared (the
same OpenAPI document, the same dependencies) and, for a route marked `@lean(...)`, answers the
plain case in one function: a JSON body that the route's model takes, a sane Idempotency-Key, a
bearer key the key cache already knows, allowed the route's permission. Anything else (no key or
an unknown one, a body that is not JSON or does not validate, a header missing or odd, dependency
overrides) is handed, unchanged, to the handler FastAPI made, which answers as it always has: every
refusal and its RFC 9457 problem come from the one place they always came from. The plain case
calls the endpoint with exactly what FastAPI would have given it, in a thread pool of the app's
(`Services.endpoints`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ValidationError

from ledger.domain.access import Permission
from ledger.domain.inputs import CLIENT_KEY_LENGTH_MAX
from ledger.idempotency import Unfinished

from ..service.caller import Caller

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SANE_KEY = re.compile(rf"[^\x00-\x1f\x7f]{{1,{CLIENT_KEY_LENGTH_MAX}}}")  # deps.idempotency_key's rules, all met


@dataclass(frozen=True)
class Pending:
    """A command handed to the ledger's writer without waiting (`Writer.submit`): its answer to come,
    and how the route shows it."""

    answer: concurrent.futures.Future[Any]
    shown: Callable[[Any], Response]


@dataclass(frozen=True)
class Lean:
    """What the plain case of a route needs: its body's model, the permission and the service it
    acts as, its UUID path parameters. The endpoint takes `body`, `key` and `api` (and those
    path parameters, and `request` if it says so) and always answers with a `Response`.

    `soon`, if given, takes the endpoint's arguments on the event loop and either hands the command
    to the writer there (a `Pending`: the loop awaits its answer, and no thread of the pool is taken
    or woken for it) or answers None (the answer needs a read first): then the endpoint runs, in the
    pool, as without it. It never blocks: it reads only what is in memory."""

    body: type[BaseModel]
    permission: Permission
    service: type[Caller]
    path_uuids: tuple[str, ...] = ()
    wants_request: bool = False
    soon: Callable[..., Pending | None] | None = None


def lean(body: type[BaseModel], permission: Permission, service: type[Caller], *, path_uuids: tuple[str, ...] = (),
         wants_request: bool = False, soon: Callable[..., Pending | None] | None = None,
         ) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Mark an endpoint for `LeanRoute`'s plain case (put it under the router's decorator)."""

    def mark(endpoint: Callable[..., Response]) -> Callable[..., Response]:
        endpoint.__lean__ = Lean(body, permission, service, path_uuids, wants_request, soon)  # type: ignore[attr-defined]
        return endpoint

    return mark


class LeanRoute(APIRoute):
    """An APIRoute that answers a `@lean` endpoint's plain case itself (see the module's docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()
        spec: Lean | None = getattr(self.endpoint, "__lean__", None)
        if spec is None:
            return full
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            arguments = await plain_arguments(request, spec)
            if arguments is None:
                return await full(request)  # FastAPI's way: the body read here is kept on the request
            return await run_endpoint(request, endpoint, arguments, spec.soon)

        return handler


async def plain_arguments(request: Request, spec: Lean) -> dict[str, Any] | None:
    """The endpoint's arguments, its body validated, if every dependency would be met; None if not
    (the body, if read, is kept on the request)."""
    arguments = plain_case(request, spec)
    if arguments is None:
        return None
    body = await request.body()
    try:
        arguments["body"] = spec.body.model_validate(orjson.loads(body)) if body else None
    except (orjson.JSONDecodeError, ValidationError):
        return None
    if arguments["body"] is None:
        return None
    request.state.key_id = str(arguments["api"].who.key_id)  # for the access log, as deps.principal does
    if spec.wants_request:
        arguments["request"] = request
    return arguments


async def run_endpoint(request: Request, endpoint: Callable[..., Response], arguments: dict[str, Any],
                       soon: Callable[..., Pending | None] | None = None) -> Response:
    if soon is not None:
        pending = soon(**arguments)
        if pending is not None:  # the writer's thread answers the loop: no pool thread woken, twice, per request
            try:
                value = await asyncio.wrap_future(pending.answer)
            except Unfinished as unfinished:  # a repeat found on the way: its answer reads, in the pool
                finish = functools.partial(contextvars.copy_context().run, unfinished.finish)
                value = await asyncio.get_running_loop().run_in_executor(request.app.state.services.endpoints, finish)
            return pending.shown(value)
    # In the services' own thread pool: asyncio's hand-off costs less than anyio's (a C queue,
    # no capacity limiter or cancel scope), in a copy of the request's context as anyio's is.
    call = functools.partial(contextvars.copy_context().run, endpoint, **arguments)
    return await asyncio.get_running_loop().run_in_executor(request.app.state.services.endpoints, call)


def plain_case(request: Request, spec: Lean) -> dict[str, Any] | None:
    """The endpoint's arguments but the body, if every dependency would be met; None if not."""
    if request.app.dependency_overrides or request.headers.get("content-type") != "application/json":
        return None
    headers = request.headers
    keys, authorizations = headers.getlist("idempotency-key"), headers.getlist("authorization")
    if len(keys) != 1 or len(authorizations) != 1 or not _SANE_KEY.fullmatch(keys[0]) or not keys[0].strip():
        return None
    scheme, token = get_authorization_scheme_param(authorizations[0])
    if scheme.lower() != "bearer" or not token:
        return None
    services = request.app.state.services
    who = services.keys.known(token)  # in memory; an unknown key goes FastAPI's way, read in the thread pool
    if who is None or not who.can(spec.permission):
        return None
    arguments: dict[str, Any] = {"key": keys[0], "api": spec.service(services, who)}
    for name in spec.path_uuids:
        value = request.path_params.get(name)
        if not isinstance(value, str) or not _CANONICAL_UUID.fullmatch(value):
            return None
        arguments[name] = UUID(value)
    return arguments
