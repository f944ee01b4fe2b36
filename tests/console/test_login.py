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
