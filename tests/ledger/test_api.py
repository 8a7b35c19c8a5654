import base64

import pytest

from ledger import chain, merkle, note

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

API = "/api/v1/ledger"


def b64s(items):
    return [base64.b64decode(x) for x in items]


def test_public_read_api(client, seeded):
    r = client.get(f"{API}/keys")
    assert r.status_code == 200
    keys = [chain.key_from_json(k) for k in r.json()["keys"]]
    assert {k.algorithm for k in keys} == {note.ALG_ED25519, note.ALG_FALCON, note.ALG_MLDSA}

    r = client.get(f"{API}/checkpoint")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/plain")
    all_three = {note.ALG_ED25519, note.ALG_FALCON, note.ALG_MLDSA}
    text, signed_by = note.open_note(r.content.decode(), keys, require=all_three)
    assert signed_by[0].algorithm == note.ALG_ED25519  # first: C2SP witnesses look for it
    cp = note.parse_checkpoint(text)
    assert cp.size == 12

    r = client.get(f"{API}/entries", {"start": 2, "end": 5})
    assert r.status_code == 200
    assert [e["index"] for e in r.json()["entries"]] == [2, 3, 4]

    r = client.get(f"{API}/entries/7")
    assert r.status_code == 200 and r["ETag"]
    body = r.json()
    e = chain.entry_from_json(body["entry"])
    merkle.verify_inclusion(
        7, body["tree_size"], chain.record_leaf_hash(e), b64s(body["inclusion_proof"]), cp.root
    )
    assert client.get(f"{API}/entries/7", HTTP_IF_NONE_MATCH=r["ETag"]).status_code == 304

    r = client.get(f"{API}/proof/consistency", {"first": 5, "second": 12})
    assert r.status_code == 200
    c = r.json()
    merkle.verify_consistency(5, 12, *b64s([c["first_root"], c["second_root"]]), b64s(c["proof"]))
    assert base64.b64decode(c["second_root"]) == cp.root

    r = client.get(f"{API}/receipts/{seeded[0]}")
    assert r.status_code == 200 and r.json()["format"] == "qmedchain-ledger-receipt/v1"
    assert client.get(f"{API}/receipts/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get(f"{API}/receipts/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    "url,params",
    [
        ("entries", {"start": "abc"}),
        ("entries", {"start": "-1"}),
        ("entries", {"start": "1.5"}),
        ("entries", {"start": 5, "end": 2}),
        ("entries", {"start": 0, "end": 13}),
        ("entries", {"start": "99999999999999999999999"}),
        ("entries/12", {}),
        ("entries/abc", {}),
        ("entries/-1", {}),
        ("proof/consistency", {"first": 6, "second": 5}),
        ("proof/consistency", {"first": 1, "second": 13}),
        ("proof/consistency", {"first": "x", "second": 5}),
        ("proof/consistency", {"second": 5}),
    ],
)
def test_bad_input_is_400_with_message(client, seeded, url, params):
    r = client.get(f"{API}/{url}", params)
    assert r.status_code == 400, r.content
    assert r.json()["detail"]


def test_empty_ledger(client, db):
    assert client.get(f"{API}/checkpoint").status_code == 404
    assert client.get(f"{API}/entries").json()["entries"] == []
    assert client.get(f"{API}/entries/0").status_code == 400


def test_status_page(client, seeded):
    r = client.get("/ledger/")
    assert r.status_code == 200
    assert b"root matches the stored tree" in r.content
