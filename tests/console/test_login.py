"""Logging in to the console: staff keys per role see their own navigation; business keys are refused;
a form without its CSRF token is refused; logging out ends the session."""

import pytest

from api.console.navigation import NAVIGATION
from ledger.domain.access import ROLE_PERMISSIONS, Role

STAFF = ("admin", "operator", "finance", "auditor")


def expected_navigation(role):
    return [item.label for item in NAVIGATION if item.permission in ROLE_PERMISSIONS[Role(role)]]


def test_the_console_sends_strangers_to_the_login_form(console):
    page = console.goto("/console", "not-logged-in")
    assert page.url.startswith(console.base + "/console/login")
    assert page.locator("input[name=api_key]").count() == 1
    assert page.locator("#navigation").count() == 0


@pytest.mark.parametrize("role", STAFF)
def test_each_staff_role_logs_in_and_sees_only_its_navigation(console, role):
    page = console.login(role)
    assert page.url == console.base + "/console"
    assert console.navigation() == expected_navigation(role)
    assert page.locator(".who .role").inner_text().strip().lower() == role


def test_what_each_role_sees_differs_as_its_permissions_do(console):
    assert "Keys 密钥" in expected_navigation("admin") and "Keys 密钥" not in expected_navigation("operator")
    assert "Events 事件" in expected_navigation("auditor") and "Events 事件" not in expected_navigation("finance")
    console.login("finance")
    assert "Keys 密钥" not in console.navigation() and "Events 事件" not in console.navigation()


def test_a_business_key_is_refused_with_a_readable_message(console):
    page = console.login("mall")
    assert page.url.startswith(console.base + "/console/login")
    assert "business key cannot log in" in page.locator("#login-error").inner_text()
    page = console.goto("/console", "business-still-out")
    assert page.url.startswith(console.base + "/console/login")


def test_an_unknown_key_is_refused(console):
    page = console.page
    page.goto(console.base + "/console/login")
    page.fill("input[name=api_key]", "fc_not_a_key")
    page.click("form[action='/console/login'] button[type=submit]")
    assert "unknown, malformed or revoked" in page.locator("#login-error").inner_text()
    console.shot("unknown-key")


def test_a_form_without_its_csrf_token_is_refused(console):
    page = console.login("admin")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.click("form[action='/console/logout'] button")
    assert "CSRF" in page.locator("#problem").inner_text()
    console.shot("csrf-refused")
    page = console.goto("/console", "still-logged-in")  # the refused logout did nothing
    assert page.url == console.base + "/console"


def test_the_session_cookie_holds_no_key_and_is_httponly_and_strict(console):
    console.login("auditor")
    cookies = console.page.context.cookies()
    assert [c["name"] for c in cookies] == ["fundcenter_console"]
    cookie = cookies[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert console.served.keys["auditor"] not in cookie["value"] and not cookie["value"].startswith("fc_")


def test_logging_out_ends_the_session(console):
    page = console.login("operator")
    page.click("form[action='/console/logout'] button")
    assert page.url.startswith(console.base + "/console/login")
    assert "logged out" in page.locator(".flash").inner_text()
    console.shot("logged-out")
    page = console.goto("/console", "after-logout")
    assert page.url.startswith(console.base + "/console/login")


def test_pages_forbid_framing_outside_scripts_and_caching(console):
    console.login("admin")
    response = console.page.goto(console.base + "/console/accounts")
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"] and "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    console.shot("accounts")


def test_logging_in_on_each_store(clerk):
    """The login, its cookie and its refusals through the app itself, on SQLite and PostgreSQL (production settings)."""
    assert clerk.get("/console", follow_redirects=False).headers["location"] == "/console/login"
    assert clerk.login("mall").status_code == 403 and "business key cannot log in" in clerk.text()
    clerk.get("/console/login")
    assert clerk.post("/console/login", {"api_key": clerk.keys["finance"]}, csrf=False).status_code == 403
    clerk.get("/console/login")
    response = clerk.post("/console/login", {"api_key": clerk.keys["finance"]}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie and clerk.keys["finance"] not in cookie
    assert clerk.get("/console").status_code == 200 and "Accounts 账户" in clerk.text() and "Keys 密钥" not in clerk.text()
    assert clerk.post("/console/logout", {}, csrf=False).status_code == 403  # logging out is a form too
    clerk.get("/console")
    clerk.post("/console/logout", {})
    assert clerk.get("/console", follow_redirects=False).status_code == 303


def test_after_login_the_console_goes_where_it_was_asked_and_nowhere_else(clerk):
    response = clerk.get("/console/keys?min_position=0", follow_redirects=False)
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Fkeys%3Fmin_position%3D0"
    clerk.get(response.headers["location"])
    assert clerk.post("/console/login", {"api_key": clerk.keys["admin"], "next": "/console/keys?min_position=0"},
                      follow_redirects=False).headers["location"] == "/console/keys?min_position=0"
    clerk.post("/console/logout", {})
    clerk.get("/console/login")
    for elsewhere in ("https://evil.example/", "//evil.example/console", "/v1/accounts"):
        clerk.get("/console/login")
        response = clerk.post("/console/login", {"api_key": clerk.keys["admin"], "next": elsewhere}, follow_redirects=False)
        assert response.headers["location"] == "/console", elsewhere
        clerk.get("/console")
        clerk.post("/console/logout", {})
