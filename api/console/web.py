"""What every console page stands on: the logged-in desk, permissions, CSRF, rendering, readable errors.

A page module makes its router with `page_router(prefix)`: its routes render HTML, every
POST is checked for the session's CSRF token (`csrf_protect`, the router's one
dependency), and whatever a route raises becomes a page a person can read (`ConsoleRoute`):
not logged in -> the login form; a refusal of the ledger or the API (same codes and
messages as the API's problem+json) -> the message, with the HTTP status the API would
answer; anything unexpected -> "an unexpected error occurred", logged, never a traceback.

A route depends on `needs(permission)` (or `DeskDep`, logged in with any staff role) and
calls the same services as the API through `desk.service(ServiceClass)`, as the key's
Principal. Commands are made with `desk.act(...)`: success or refusal becomes a message
shown once on the page it redirects to (post/redirect/get); a command the four-eyes policy
holds says it waits for approval (and where), the same way.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.domain.access import Permission, Principal, Role
from ledger.domain.errors import LedgerError
from ledger.outages import database_unavailable

from ..deps import Services, ServicesDep
from ..problems import ApiProblem
from ..service.approvals import PendingApproval
from .money import MoneyInputError, money
from .navigation import navigation_for
from .sessions import Session, SessionStore

log = logging.getLogger(__name__)

COOKIE = "fundcenter_console"
LOGIN_PATH = "/console/login"
HOME_PATH = "/console"
STAFF_ROLES = (Role.ADMIN, Role.OPERATOR, Role.FINANCE, Role.AUDITOR)
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
C = TypeVar("C")
T = TypeVar("T")


class LoginRequired(Exception):
    """No logged-in session: the browser is sent to the login form."""


class Refused(Exception):
    """The console refuses the request: `message` is shown on a page with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def sessions(request: Request) -> SessionStore:
    """The app's sessions (in the database, on the ledger's clock), made with the first request that needs
    them (never at import time)."""
    store = getattr(request.app.state, "console_sessions", None)
    if store is None:
        services: Services = request.app.state.services
        store = request.app.state.console_sessions = SessionStore(services.views, services.ledger.clock)
    return store


def session_of(request: Request) -> Session | None:
    """The request's session, looked up once per request (the CSRF check, the desk and an error page share it)."""
    if not hasattr(request.state, "console_session"):
        request.state.console_session = sessions(request).get(request.cookies.get(COOKIE))
    found: Session | None = request.state.console_session
    return found


def forget_session(request: Request) -> None:
    """The request's session has ended (logout, a login, a revoked key): not looked up again."""
    request.state.console_session = None


def set_session_cookie(response: Response, session: Session, services: Services) -> None:
    response.set_cookie(COOKIE, session.id, httponly=True, samesite="strict", path="/console",
                        secure=services.settings.environment != "development")


@cache
def templates() -> Jinja2Templates:
    made = Jinja2Templates(directory=str(TEMPLATES_DIR))
    made.env.filters["money"] = money
    made.env.filters["pretty"] = pretty
    made.env.filters["when"] = when
    made.env.globals["new_key"] = lambda: uuid.uuid4().hex  # a form's Idempotency-Key, one per render
    return made


def when(instant: Any, length: int = 19) -> str:
    """An instant (a datetime, or ISO 8601 text as the views keep it) as staff read it: date and time
    to the second (`length` 16: to the minute), in UTC as the API gives it; blank for none."""
    if instant is None or instant == "":
        return ""
    text = instant.isoformat() if hasattr(instant, "isoformat") else str(instant)
    return text[:length].replace("T", " ")


def pretty(data: Any) -> str:
    """Event data as indented JSON, ids and instants as text, Chinese as itself."""
    return json.dumps(data, indent=1, ensure_ascii=False, default=str, sort_keys=True)


def _current(services: Services, session: Session) -> Principal | None:
    """The session's principal as the key is now: a revoked key's sessions end; a new role counts at once."""
    assert session.who is not None
    rows = services.views.query("SELECT role, business_id, revoked_by FROM api_keys WHERE key_id = ?",
                                (str(session.who.key_id),))
    if not rows:  # the views have not seen the key yet: as it was at login
        return session.who
    row = rows[0]
    if row["revoked_by"] is not None or row["role"] not in STAFF_ROLES:
        return None
    if row["role"] != session.who.role:
        store = session.store
        assert store is not None
        store.regrant(session, Principal(session.who.key_id, Role(row["role"]), row["business_id"]))
    return session.who


@dataclass
class Desk:
    """A logged-in person at the console: their session, their key's principal, the app's services."""

    request: Request
    services: Services
    session: Session
    who: Principal

    def service(self, service: Callable[[Services, Principal], C]) -> C:
        """The API's service of a concept (api/service/*), acting as this key."""
        return service(self.services, self.who)

    def can(self, permission: Permission) -> bool:
        return self.who.can(permission)

    def key_names(self, key_ids: Iterable[str | None]) -> dict[str, str]:
        """The names of these API keys (who did something, as the log records it) that the views know."""
        wanted = sorted({k for k in key_ids if k})
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        rows = self.services.views.query(f"SELECT key_id, name FROM api_keys WHERE key_id IN ({marks})", wanted)
        return {str(row["key_id"]): row["name"] for row in rows if row["name"]}

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return render(self.request, template, status, self.session, **context)

    def back(self, url: str, level: str, message: str) -> RedirectResponse:
        """Redirect (303) to `url`, where `message` is shown once."""
        self.session.flash(level, message)
        return RedirectResponse(url, status_code=303)

    def act(self, run: Callable[[], T], done: str | Callable[[T], str], back: str,
            then: Callable[[T], str] | None = None) -> RedirectResponse:
        """Make a command; on success say `done` and go to `then(result)` (default `back`); on a refusal
        say why and go to `back`."""
        try:
            result = run()
        except PendingApproval as held:
            return self.back(back, "pending", waiting(held))
        except (LedgerError, ApiProblem, MoneyInputError, Refused) as error:
            return self.back(back, "error", readable(error))
        return self.back(then(result) if then else back, "ok", done if isinstance(done, str) else done(result))


def desk(request: Request, services: ServicesDep) -> Desk:
    session = session_of(request)
    if session is None or session.who is None:
        raise LoginRequired
    who = _current(services, session)
    if who is None:
        sessions(request).end(session.id)
        forget_session(request)
        raise LoginRequired
    request.state.key_id = str(who.key_id)  # for the access log, as the API's requests
    return Desk(request, services, session, who)


DeskDep = Annotated[Desk, Depends(desk)]


def needs(permission: Permission) -> Any:
    """A route's dependency: the desk, if its role has `permission`; else a 403 page saying what is missing."""

    def check(desk: DeskDep) -> Desk:
        if not desk.can(permission):
            raise Refused(403, f"The {desk.who.role.value} role may not open this page (it needs {permission.value}).")
        return desk

    return Depends(check)


async def csrf_protect(request: Request) -> None:
    """Every POST form carries its session's CSRF token in the field `csrf_token`; else 403."""
    if request.method != "POST":
        return
    form = await request.form()
    token = form.get("csrf_token")
    session = session_of(request)
    if session is None:
        raise LoginRequired
    if not isinstance(token, str) or not session.csrf_matches(token):
        raise Refused(403, "This form was refused: its security token (CSRF) is missing or does not match your"
                           " session. Reload the page and submit it again.")


# Pages load nothing from elsewhere, run no inline script, post forms only here, and are never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none';"
                               " form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show balances and, once, a key's secret
}


def render(request: Request, template: str, status: int = 200, session: Session | None = None,
           **context: Any) -> HTMLResponse:
    who = session.who if session is not None else None
    return templates().TemplateResponse(request, template, headers=SECURITY_HEADERS, context={
        "who": who, "key_name": session.key_name if session is not None else "",
        "navigation": navigation_for(who) if who is not None else [],
        "csrf_token": session.csrf_token if session is not None else "",
        "flashes": session.take_flashes() if session is not None else [],
        "path": request.url.path, **context,
    }, status_code=status)


def readable(error: BaseException) -> str:
    if isinstance(error, LedgerError | ApiProblem):
        return f"{error.detail} ({error.code})"
    if isinstance(error, Refused):
        return error.message
    if isinstance(error, RequestValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'input'}: {e['msg']}" for e in error.errors()[:5])
    return str(error)


def waiting(held: PendingApproval) -> str:
    """What a person is told of a command that waits for four-eyes approval."""
    approval = held.approval
    return (f"Not done yet: this {approval.kind.replace('_', ' ')} waits for a second staff key's approval"
            f" (another person's key with {approval.permission}), under Approvals 审批"
            f" as {approval.id}, until {approval.expires_at:%Y-%m-%d %H:%M} UTC.")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    try:
        session = session_of(request)
    except Exception as error:  # the database went away: the page still says what happened, without a session
        if not database_unavailable(error):
            raise
        session = None
    if session is not None and session.who is None:
        session = None  # not logged in: no navigation, and the login form's token stays its own
    return render(request, "error.html", status, session, status_code=status, message=message)


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    suffix = f"?next={quote(target, safe='')}" if request.method == "GET" and target != HOME_PATH else ""
    return RedirectResponse(LOGIN_PATH + suffix, status_code=303)


class ConsoleRoute(APIRoute):
    """A console route: whatever it raises is answered as a page (or a redirect to log in), never a traceback."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except Refused as refused:
                return error_page(request, refused.status, refused.message)
            except PendingApproval as held:
                return error_page(request, 202, waiting(held))
            except (LedgerError, ApiProblem) as error:
                return error_page(request, error.status, readable(error))
            except RequestValidationError as error:
                return error_page(request, 422, f"Some input was not accepted: {readable(error)}")
            except StarletteHTTPException as error:
                return error_page(request, error.status_code, str(error.detail))
            except Exception as error:
                if database_unavailable(error):
                    return error_page(request, 503, "The database cannot be reached just now; try again in a few seconds.")
                log.exception("console: unexpected error on %s %s", request.method, request.url.path)
                return error_page(request, 500, "An unexpected error occurred; it has been logged.")

        return guarded


def page_router(prefix: str) -> APIRouter:
    """The router of one console page: HTML routes, CSRF-checked POSTs, readable errors, not in the OpenAPI."""
    return APIRouter(prefix=prefix, route_class=ConsoleRoute, dependencies=[Depends(csrf_protect)],
                     include_in_schema=False, default_response_class=HTMLResponse)


FORM_KEY_LENGTH_MAX = 64


def command_key(form_key: str | None) -> str:
    """The Idempotency-Key of a command sent from a form: the form's own key (made when the form was
    rendered, so a resubmission is the same command). What the command says (a reason...) goes in the
    command itself, never in its key."""
    if not form_key or len(form_key) > FORM_KEY_LENGTH_MAX or not form_key.isalnum():
        raise Refused(400, "This form has no valid idempotency key; reload the page and submit it again.")
    return f"console/{form_key}"


def query_string(params: Mapping[str, Any]) -> str:
    """`a=1&b=2` of the params that are set (for paging links that keep the filters)."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})
