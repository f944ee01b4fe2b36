"""The OpenAPI document as the API behaves, and /docs and /redoc served from the app itself.

FastAPI writes the document from the routes; `install` finishes it once, per operation:
- the `bearer` security scheme comes from the auth dependency (`api.deps.bearer`), so it is
  on exactly the routes that need a key (Swagger's Authorize button fills it in);
- `Idempotency-Key` is marked required where a route takes it (the route still answers a
  missing one with `400 idempotency-key-required`, not FastAPI's 422);
- the problem+json answers: generic `4XX` and `5XX`, and the codes the route can give: 401
  and 403 behind a key, 400 and 409 for a command, 404 with a path parameter, 422 with input,
  503 when the database is away;
- every answer names its `X-Request-Id` header.

The docs pages take Swagger UI's and ReDoc's files from the `fastapi_offline` package
(no CDN): `/docs/assets/...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ledger.domain.inputs import CLIENT_KEY_LENGTH_MAX

from .access_log import REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from .problems import MEDIA_TYPE, PROBLEM_REF, PROBLEM_RESPONSES, PROBLEM_SCHEMA

ASSETS_PATH = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
REQUEST_ID_REF = {"$ref": "#/components/headers/RequestId"}
REQUEST_ID = {
    "description": "The request's X-Request-Id if it was sane (matching the pattern), else one made for it;"
                   " also the `request_id` of a problem.",
    "schema": {"type": "string", "pattern": f"^{REQUEST_ID_PATTERN}$"},
}
_METHODS = ("get", "put", "post", "delete", "patch")
_PROBLEMS = {
    400: "Malformed request, or a missing Idempotency-Key (idempotency-key-required)",
    401: "No valid API key (unauthorized)",
    403: "The key's role may not do this (forbidden)",
    404: "No such resource, or not this business's (not-found, ...)",
    409: "Refused: insufficient funds, frozen or closed account, idempotency conflict, ...",
    422: "Invalid input (validation-error)",
    500: "An unexpected error, logged (internal-error)",
    503: "The database is unreachable (database-unavailable), or the read models have not reached"
         " ?min_position yet (views-lagging); retry after Retry-After seconds",
}


def _problem(code: int) -> dict[str, Any]:
    return {"description": _PROBLEMS[code], "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}}


def _finish(operation: dict[str, Any], path: str) -> None:
    parameters = operation.get("parameters", [])
    command = False
    for parameter in parameters:
        if parameter["in"] == "header" and parameter["name"] == "Idempotency-Key":
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "minLength": 1, "maxLength": CLIENT_KEY_LENGTH_MAX}
            parameter["description"] = "Required: a retry with the same key answers the first outcome."
            command = True
    codes = [500]
    if operation.get("security"):
        codes += [401, 403, 503]
    if command:
        codes += [400, 409]
    if "{" in path:
        codes.append(404)
    if parameters or "requestBody" in operation:
        codes.append(422)
    responses = operation.setdefault("responses", {})
    for code, answer in PROBLEM_RESPONSES.items():
        responses.setdefault(str(code), answer)
    for code in codes:
        if str(code) not in responses or code == 422:  # FastAPI's own 422 is not the one we answer
            responses[str(code)] = _problem(code)
    for response in responses.values():
        response.setdefault("headers", {})[REQUEST_ID_HEADER] = REQUEST_ID_REF


def install(app: FastAPI) -> None:
    """The finished document, made once; /docs, /redoc and their assets."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            components.setdefault("headers", {})["RequestId"] = REQUEST_ID
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    if method in _METHODS:
                        _finish(operation, path)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js", redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
