"""The money commands' plain case, taken before the routers (pure ASGI middleware).

`LeanRoute` (api/routes/lean.py) answers the plain case of a `@lean` route in one function, but a
request still went through the exception middleware, FastAPI's exit stack, the app's router, the
included routers' walk (each asks its routes in turn) and the route's request-response wrapper to
get there: about a sixth of `serve`'s event loop under load. `LeanFront` sits just inside the
access log (so the request id, the metric and the log line are as they were) and, for a `POST`
whose path is a `@lean` route's, asks the same question the route asks (`plain_arguments`): if
it is the plain case, it calls the same endpoint the same way (`run_endpoint`) and sends its
response; a refusal the endpoint raises is answered by the app's own exception handler for it,
found as Starlette's exception middleware finds it, and anything without one (the catch-all's
`Exception`) propagates to the server-error middleware, as before. Everything else, a body it
read included, goes on to the app unchanged.

A route is taken here only if the app's routes, asked in order, give that route for such a path
(a UUID where it has a parameter): an earlier route that would match comes first, as in the
router. Not at all when the app or the route limits the body's size (FastAPI's `max_body_size`),
nor under a `root_path`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Match

from .routes.lean import Lean, LeanRoute, plain_arguments, run_endpoint

_SAMPLE_UUID = "00000000-0000-4000-8000-000000000000"


class LeanFront:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._exact: dict[str, tuple[LeanRoute, Lean]] | None = None  # built on the first request: routes are final
        self._templated: list[tuple[LeanRoute, Lean]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        if self._exact is None:
            self._exact, self._templated = _lean_routes(scope["app"])
        path = scope["path"]
        found, path_params = self._exact.get(path), {}
        if found is None:
            for candidate in self._templated:
                matched = candidate[0].path_regex.match(path)
                if matched:
                    found, path_params = candidate, matched.groupdict()
                    break
            else:
                await self.app(scope, receive, send)
                return
        route, spec = found
        request = Request({**scope, "path_params": path_params}, receive)
        arguments = await plain_arguments(request, spec)
        if arguments is None:
            await self.app(scope, _replaying(request, receive), send)
            return
        scope.update(route=route, endpoint=route.endpoint, path_params=path_params)
        try:
            response = await run_endpoint(request, route.endpoint, arguments, spec.soon)
        except Exception as error:
            handler = _handler_for(scope["app"].exception_handlers, error)
            if handler is None:
                raise
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, error)
            else:
                response = await run_in_threadpool(handler, request, error)
        await response(scope, receive, send)


def _handler_for(handlers: dict[Any, Any], error: Exception) -> Any:
    """The handler Starlette's exception middleware would use (a 500's and `Exception`'s are the
    server-error middleware's, outside this one)."""
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and status != 500 and status in handlers:
        return handlers[status]
    for kind in type(error).__mro__:
        if kind is Exception:
            return None
        if kind in handlers:
            return handlers[kind]
    return None


def _replaying(request: Request, receive: Any) -> Any:
    """`receive` for the app, giving first the body `request` read, if it read it."""
    body: bytes | None = getattr(request, "_body", None)
    if body is None:
        return receive

    async def replay() -> dict:
        nonlocal body
        if body is None:
            return await receive()
        message, body = {"type": "http.request", "body": body, "more_body": False}, None
        return message

    return replay


def _lean_routes(app: Any) -> tuple[dict[str, tuple[LeanRoute, Lean]], list[tuple[LeanRoute, Lean]]]:
    """The `@lean` POST routes the app's router would give their paths to: by exact path, and templated."""
    if getattr(app, "max_body_size", None) is not None:
        return {}, []
    routes = list(_flattened(app.router.routes))
    exact, templated = {}, []
    for route in routes:
        spec = getattr(getattr(route, "endpoint", None), "__lean__", None)
        if not isinstance(route, LeanRoute) or spec is None or "POST" not in (route.methods or ()):
            continue
        if getattr(route, "max_body_size", None) is not None:
            continue
        sample = route.path_format.format(**{name: _SAMPLE_UUID for name in route.param_convertors})
        if _first_match(routes, sample) is not route:
            continue
        if route.param_convertors:
            templated.append((route, spec))
        else:
            exact[route.path] = (route, spec)
    return exact, templated


def _flattened(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes in the router's order, included routers' own in their place."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is None:
            yield route
            continue
        for context in contexts():
            original = context.original_route
            if isinstance(original, APIRoute) and original.path != context.path_format:
                yield context  # included under a prefix: never taken here (not a LeanRoute)
            else:
                yield original


def _first_match(routes: list[BaseRoute], path: str) -> BaseRoute | None:
    scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": []}
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route
    return None
