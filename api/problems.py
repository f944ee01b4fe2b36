"""RFC 9457 problem+json for every error, with a stable `type` slug.

One table maps errors to responses: the ledger's own errors carry their slug
and status; the API adds the few that only HTTP has. Nothing leaves as a bare
500 traceback: an unexpected error is logged and answered as `internal-error`.

An error that means "the database cannot be reached now" (`database_unavailable()`
says which: a lost or refused connection, a server shutting down, no pooled
connection in time, SQLite's "database is locked") is `503 database-unavailable`
with `Retry-After`: the client retries with the same Idempotency-Key, and a command
whose commit did happen answers with its first outcome.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.domain.errors import LedgerError
from ledger.outages import database_unavailable

from .access_log import REQUEST_ID_HEADER

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"


PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A stable slug: insufficient-funds, not-found, ..."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "request_id": {"type": "string", "description": "The request's X-Request-Id (sent or made), for the logs"},
    },
}
RETRY_AFTER_S = 2  # what a 503 database-unavailable tells the client to wait
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}  # PROBLEM_SCHEMA, in the document's components
# Every route's OpenAPI lists these, as application/problem+json; api/openapi.py adds each route's own codes.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "A problem with the request (RFC 9457)", "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}},
    "5XX": {"description": "A problem on our side (RFC 9457)", "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}},
}


class ApiProblem(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthorized", detail, {"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> ApiProblem:
    return ApiProblem(403, "forbidden", detail)


def problem_body(status: int, code: str, detail: str, request: Request, **extra: Any) -> dict[str, Any]:
    services = getattr(request.app.state, "services", None)
    if services is not None:
        services.metrics.problem(code)
    title = code.replace("-", " ").capitalize()
    body = {"type": code, "title": title, "status": status, "detail": detail, "instance": request.url.path, **extra}
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id is not None:
        body["request_id"] = request_id
    return body


def problem(status: int, code: str, detail: str, request: Request, **extra: Any) -> JSONResponse:
    body = problem_body(status, code, detail, request, **extra)
    response = JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)
    if "request_id" in body:  # also for a 500, answered outside the middleware that echoes it
        response.headers[REQUEST_ID_HEADER] = body["request_id"]
    return response


def unavailable(request: Request, error: BaseException) -> JSONResponse:
    response = problem(
        503, "database-unavailable",
        f"the database cannot be reached ({type(error).__name__}); retry in a few seconds"
        " (a command with the same Idempotency-Key answers with its first outcome if it was done)",
        request,
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(LedgerError)
    async def ledger_error(request: Request, error: LedgerError) -> JSONResponse:
        return problem(error.status, error.code, error.detail, request)

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, error: ApiProblem) -> JSONResponse:
        response = problem(error.status, error.code, error.detail, request)
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": ".".join(str(part) for part in e["loc"]), "message": e["msg"], "kind": e["type"]}
            for e in error.errors()
        ]
        if any(e["kind"] == "json_invalid" for e in errors):
            return problem(400, "malformed-request", "the body is not valid JSON", request, errors=errors)
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        return problem(422, "validation-error", detail, request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        return problem(error.status_code, code, str(error.detail), request)

    # The database's errors: handled here (not by the catch-all below, which Starlette
    # re-raises after answering), 503 when they mean the database is out of reach.
    @app.exception_handler(PersistenceError)
    @app.exception_handler(psycopg.Error)
    @app.exception_handler(sqlite3.Error)
    async def database_error(request: Request, error: Exception) -> JSONResponse:
        if database_unavailable(error):
            log.debug("database unavailable on %s %s: %s", request.method, request.url.path, error)
            return unavailable(request, error)
        return internal_error(request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        if database_unavailable(error):
            return unavailable(request, error)
        return internal_error(request)


def internal_error(request: Request) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "internal-error", "an unexpected error occurred; it has been logged", request)
