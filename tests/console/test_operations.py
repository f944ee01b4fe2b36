"""The operations journey in a real browser: an operator sees the channels, closes one and sees a
recharge route to the next; sets a limit and a route through the forms; a wrong amount is a readable
refusal; and a role without channels:manage may not open the page."""

from uuid import uuid4

from tests.serving import request
from tests.shop import CARD, ID_NUMBER, PHONE


def csp_refusals(console):
    """What the page's Content-Security-Policy refused (an inline style, a script), as the browser logs it."""
    refused = []
    console.page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return refused


def scene(console, tag):
    """Two channels on one business's withholding route, A before B, and a member with a bound card."""
    served = console.served
    first, second, business = f"opsa-{tag}", f"opsb-{tag}", f"ops{tag}"
    served.api("POST", "/v1/admin/banks", "operator", {"code": "icbc", "name": "ICBC"})
    for code, rate in ((first, 60), (second, 40)):
        served.api("POST", "/v1/admin/channels", "operator", {"code": code, "name": code.upper(), "logo_url": ""})
        served.api("POST", f"/v1/admin/channels/{code}/products/withholding", "operator",
                   {"fee": {"rate_bps": rate}, "banks": {"icbc": {"enabled": True}}})
    served.api("POST", "/v1/admin/routes", "operator", {"business_id": business, "method": "withholding", "channels": [
        {"channel": first, "priority": 1}, {"channel": second, "priority": 2}]})
    key = served.api("POST", "/v1/admin/api-keys", "admin", {"role": "business", "business_id": business, "name": business})["key"]
    served.keys[business] = key
    member = served.api("POST", "/v1/accounts", business, {"kind": "member", "external_ref": "m1", "currency": "CNY"})["id"]
    binding = served.api("POST", "/v1/bindings", business, {"account": member, "bank": "icbc", "holder_name": "张三",
                                                           "id_number": ID_NUMBER, "card_number": CARD, "phone": PHONE})
    assert {first, second} <= set(binding["channels"]), binding
    return first, second, business, member, binding["id"]


def preview(console, business, amount, label):
    page = console.page
    page.goto(f"{console.base}/console/channels")
    form = page.locator("#preview-form")
    form.locator("input[name=business]").fill(business)
    form.locator("select[name=method]").select_option("withholding")
    form.locator("select[name=bank]").select_option("icbc")
    form.locator("input[name=amount]").fill(amount)
    form.locator("button").click()
    page.wait_for_load_state()
    console.shot(label)
    choices = [c.get_attribute("data-channel") for c in page.locator("#preview-choices li[data-channel]").all()]
    skipped = page.locator("#preview-skipped li").all_inner_texts() if page.locator("#preview-skipped").count() else []
    return choices, skipped


def test_an_operator_closes_a_channel_and_a_recharge_routes_to_the_next(console):
    refused = csp_refusals(console)
    first, second, business, member, binding = scene(console, uuid4().hex[:8])
    page = console.login("operator")
    assert "Channels 渠道" in console.navigation()
    page = console.goto("/console/channels", "channels")
    assert page.locator(f"#channel-list tr[data-channel='{first}'] .status").inner_text() == "open"
    assert page.locator(f"#route-list tr[data-route='{business}/withholding']").inner_text().count("→") == 1

    assert preview(console, business, "100.00", "preview-both-open") == ([first, second], [])

    page.goto(f"{console.base}/console/channels")
    switch = page.locator(f"#channel-list tr[data-channel='{first}'] form")
    sent = {name: switch.locator(f"input[name={name}]").get_attribute("value")
            for name in ("csrf_token", "idempotency_key", "status")}
    switch.locator("button").click()
    page.wait_for_load_state()
    assert f"Channel {first} is now closed" in console.flash()
    assert page.locator(f"#channel-list tr[data-channel='{first}'] .status").inner_text() == "closed"
    console.shot("channel-closed")
    again = page.request.post(f"{console.base}/console/channels/{first}/status", form=sent)  # the same form, sent twice
    assert again.ok and f"Channel {first} is now closed" in again.text()
    reused = page.request.post(f"{console.base}/console/channels/{first}/status", form={**sent, "status": "open"})
    assert "idempotency-conflict" in reused.text()  # its key, with another body: refused, nothing changed
    assert console.served.api("GET", "/v1/admin/channels", "operator")["channels"][first]["status"] == "closed"

    choices, skipped = preview(console, business, "100.00", "preview-first-closed")
    assert choices == [second] and skipped == [f"{first} skipped: channel closed"]

    status, recharge = request(console.base, "POST", "/v1/recharges", console.served.keys[business],
                               {"account": member, "amount": 10_000, "currency": "CNY", "method": "withholding",
                                "binding_id": binding}, key=f"ops-recharge-{uuid4().hex}")
    assert status == 201 and (recharge["channel"], recharge["status"]) == (second, "succeeded"), recharge
    assert any(first in str(d) and "channel closed" in str(d) for d in recharge["decisions"]), recharge["decisions"]

    console.served.api("GET", f"/v1/transactions?min_position={recharge['position']}")  # the views have it
    page = console.goto("/console/channels", "today-after-recharge")
    row = page.locator(f"#activity-channels tr[data-channel='{second}']")
    assert [c.strip() for c in row.locator("td").all_inner_texts()] == [second, "1", "0", "100.00%", "100.00 CNY"]
    assert refused == []


def test_an_operator_sets_limits_and_routes_and_is_told_what_is_wrong(console):
    first, second, business, _member, _binding = scene(console, uuid4().hex[:8])
    page = console.login("operator")
    page = console.goto("/console/channels", "channels")
    page.select_option("#product-pick select[name=code]", second)
    page.select_option("#product-pick select[name=method]", "withholding")
    page.click("#product-pick button")
    page.wait_for_load_state()
    assert page.url == f"{console.base}/console/channels/{second}/products/withholding"
    console.shot("product-form")
    page.fill("input[name=single_icbc]", "12.345")
    page.click("#product-form button[type=submit]")
    page.wait_for_load_state()
    assert "CNY has 2 decimals" in console.flash()
    console.shot("product-refused")
    page.fill("input[name=single_icbc]", "50.00")
    page.fill("input[name=daily_icbc]", "1,000,000.00")
    page.fill("input[name=fixed]", "0.10")
    page.click("#product-form button[type=submit]")
    page.wait_for_load_state()
    assert f"The withholding product of {second} is saved." in console.flash()
    catalog = console.served.api("GET", "/v1/admin/channels", "operator")
    product = catalog["channels"][second]["products"]["withholding"]
    assert product["banks"]["icbc"] == {"enabled": True, "limit_per_transaction": 5_000, "limit_per_day": 100_000_000}
    assert product["fee"] == {"rate_bps": 40, "fixed": 10, "minimum": 0, "maximum": None}

    page = console.goto(f"/console/channels?business={business}&method=withholding", "route-form")
    page.fill(f"#route-form input[name='priority_{first}']", "")
    page.fill(f"#route-form input[name='priority_{second}']", "1")
    page.click("#route-form button[type=submit]")
    page.wait_for_load_state()
    assert f"The withholding route of {business} is saved." in console.flash()
    assert catalog != (after := console.served.api("GET", "/v1/admin/channels", "operator"))
    assert after["routes"][f"{business}/withholding"] == [{"channel": second, "priority": 1}]
    console.shot("route-saved")

    choices, skipped = preview(console, business, "100.00", "preview-over-the-limit")
    assert choices == [] and skipped == [f"{second} skipped: amount 10000 above the single limit 5000"]
    assert preview(console, business, "50.00", "preview-within-the-limit")[0] == [second]
    preview(console, business, "5O.00", "preview-not-an-amount")
    assert "is not an amount" in page.locator("#preview-error").inner_text()


def test_finance_may_not_open_the_channels_page(console):
    console.login("finance")
    assert "Channels 渠道" not in console.navigation()
    page = console.goto("/console/channels", "channels-forbidden")
    assert "may not open this page" in page.locator("#problem").inner_text()
