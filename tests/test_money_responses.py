"""The money routes answer with what their response models show: the same fields, values and
JSON as the read routes that go through FastAPI's `response_model` (the write routes make their
JSON in the endpoint's thread, api/routes/money.py)."""

import orjson


def same_but_position(written, read):
    assert written.headers["content-type"] == read.headers["content-type"] == "application/json"
    mine, theirs = orjson.loads(written.content), orjson.loads(read.content)
    assert list(mine) == list(theirs)  # the fields in the model's order
    mine.pop("position", None), theirs.pop("position", None)
    assert mine == theirs
    return orjson.loads(written.content)


def test_a_transfer_shows_as_its_lookup_does(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 10_000)
    posted = api.post("/v1/transfers", {"from_account": alice, "to_account": bob, "amount": 2_500, "currency": "CNY",
                                        "memo": "晚饭 dinner", "reference": "order-1"})
    assert posted.status_code == 201
    shown = same_but_position(posted, api.get(f"/v1/transfers/{posted.json()['id']}"))
    assert isinstance(shown["position"], int) and shown["position"] > 0
    assert shown["memo"] == "晚饭 dinner" and shown["reference"] == "order-1"
    assert shown["postings"] == [{"account": alice, "side": "debit", "amount": 2_500},
                                 {"account": bob, "side": "credit", "amount": 2_500}]
    assert "晚饭".encode() in posted.content  # UTF-8, not \\u escapes, as FastAPI writes it


def test_holds_and_a_capture_show_as_their_lookups_do(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 10_000)
    placed = api.post("/v1/holds", {"account": alice, "amount": 3_000, "reason": "deposit"})
    assert placed.status_code == 201
    hold = placed.json()["id"]
    same_but_position(placed, api.get(f"/v1/holds/{hold}"))
    released = api.post(f"/v1/holds/{hold}/release", {"amount": 1_000})
    assert released.status_code == 200
    same_but_position(released, api.get(f"/v1/holds/{hold}"))
    captured = api.post(f"/v1/holds/{hold}/capture", {"to_account": bob, "amount": 500})
    assert captured.status_code == 201
    same_but_position(captured, api.get(f"/v1/transfers/{captured.json()['id']}"))


def test_a_batch_shows_each_transfer_and_each_refusal(api):
    alice, bob = api.open("alice"), api.open("bob")
    api.fund(alice, 1_000)
    item = {"from_account": alice, "to_account": bob, "currency": "CNY"}
    answer = api.post("/v1/transfers/batch", {"transfers": [{**item, "amount": 600}, {**item, "amount": 600}]})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    first, second = answer.json()["results"]
    assert (first["index"], first["status"], first["problem"]) == (0, 201, None)
    assert answer.json()["position"] == first["transfer"]["position"]
    lookup = api.get(f"/v1/transfers/{first['transfer']['id']}").json()
    assert {**first["transfer"], "position": None} == {**lookup, "position": None}
    assert (second["index"], second["status"], second["transfer"]) == (1, 409, None)
    assert second["problem"]["type"].endswith("insufficient-funds")
