"""/console, /console/login, /console/logout: staff keys log in; business keys are refused."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from ledger.domain.inputs import CLIENT_KEY_LENGTH_MAX

from ...deps import ServicesDep
from .. import web
from ..web import HOME_PATH, STAFF_ROLES, DeskDep, page_router, render, session_of, sessions

router = page_router("/console")
KEY_TEXT_MAX = 4 * CLIENT_KEY_LENGTH_MAX  # characters of an API key typed into the form; far above any real key


def _next(target: str | None) -> str:
    """Where to go after logging in: a console path only (never another site)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME_PATH


@router.get("")
def home(desk: DeskDep):
    return desk.render("home/home.html")


@router.get("/login")
def login_form(request: Request, services: ServicesDep, next: str | None = None, out: bool = False):
    session = session_of(request)
    if session is not None and session.who is not None:
        return RedirectResponse(_next(next), status_code=303)
    if session is None:
        session = sessions(request).start()
    response = render(request, "login/login.html", 200, session, next=_next(next), logged_out=out)
    web.set_session_cookie(response, session, services)
    return response


@router.post("/login")
def login(request: Request, services: ServicesDep, api_key: Annotated[str, Form(max_length=KEY_TEXT_MAX)] = "",
          next: Annotated[str, Form(max_length=2000)] = HOME_PATH) -> Response:
    anonymous = session_of(request)
    who = services.keys.authenticate(api_key.strip()) if api_key.strip() else None
    message = None
    if who is None:
        message = "That API key is unknown, malformed or revoked."
    elif who.role not in STAFF_ROLES:
        message = (f"A {who.role.value} key cannot log in to the console: it is for staff keys"
                   f" ({', '.join(r.value for r in STAFF_ROLES)}). A business uses the API.")
    if who is None or message is not None:
        return render(request, "login/login.html", 401 if who is None else 403, anonymous, next=_next(next), error=message)
    if anonymous is not None:
        sessions(request).end(anonymous.id)
        web.forget_session(request)
    rows = services.views.query("SELECT name FROM api_keys WHERE key_id = ?", (str(who.key_id),))
    session = sessions(request).start(who, rows[0]["name"] if rows else "")
    response = RedirectResponse(_next(next), status_code=303)
    web.set_session_cookie(response, session, services)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    session = session_of(request)
    if session is not None:
        sessions(request).end(session.id)
        web.forget_session(request)
    response = RedirectResponse(f"{web.LOGIN_PATH}?out=true", status_code=303)
    response.delete_cookie(web.COOKIE, path="/console")
    return response

