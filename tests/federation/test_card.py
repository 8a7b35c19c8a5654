"""GET /.well-known/qmedchain-node: a node card signed by the log's Ed25519 and Falcon keys, and
verify_card, which a peer uses with the log keys it was given out of band."""

import json

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from federation import card, keys
from ledger import canonical, note
from tests.federation.peer_log import PeerLog

pytestmark = pytest.mark.django_db

URL = "/.well-known/qmedchain-node"


@pytest.fixture(autouse=True)
def node(settings):
    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    settings.FEDERATION_WITNESS_NAME = "hospital-a.example/witness"
    settings.FEDERATION_NODE_NAME = "Hôpital A"
    settings.FEDERATION_BASE_URL = "https://a.example:8443"
    keys._signer_cache.clear()
    cache.clear()
    return settings


def test_the_card_is_signed_plain_text_cacheable_for_five_minutes():
    assert reverse("node-card") == URL
    r = Client().get(URL)
    assert r.status_code == 200
    assert r["Content-Type"] == "text/plain; charset=utf-8"
    assert "public" in r["Cache-Control"] and "max-age=300" in r["Cache-Control"]
    shown = keys.show_keys()
    data = card.verify_card(r.content.decode(), shown["log"])
    assert data == {
        "card": "qmedchain-node/v1",
        "name": "Hôpital A",
        "origin": "hospital-a.example/ledger",
        "witness_name": "hospital-a.example/witness",
        "base_url": "https://a.example:8443",
        "log_keys": shown["log"],
        "witness_keys": shown["witness"],
        "node_key": keys.node_key_card_entry(),
        "endpoints": {
            "add_checkpoint": "https://a.example:8443/witness/add-checkpoint",
            "tlog": "https://a.example:8443/tlog/",
            "gossip": "https://a.example:8443/network/gossip/cosigned",
        },
    }
    text, sigs = note.split_note(r.content.decode())
    assert text == canonical.dumps(data) + "\n"
    algs = [note.parse_vkey(v) for v in shown["log"]]
    by_id = {v.key_id: v.algorithm for v in algs}
    assert [by_id[s.key_id] for s in sigs] == [note.ALG_ED25519, note.ALG_FALCON]


def test_the_same_card_is_served_while_cached():
    assert Client().get(URL).content == Client().get(URL).content


def test_other_methods_are_405():
    r = Client().post(URL)
    assert r.status_code == 405 and "GET" in r["Allow"]


def test_a_card_checks_only_with_the_logs_own_keys():
    text = card.signed_card()
    stranger = PeerLog("hospital-a.example/ledger", algorithms=(note.ALG_ED25519, note.ALG_FALCON))
    with pytest.raises(card.CardError, match="signature"):
        card.verify_card(text, stranger.vkeys)
    with pytest.raises(card.CardError, match="no Ed25519 or Falcon-512"):
        ml_dsa = [v for v in keys.show_keys()["log"] if note.parse_vkey(v).algorithm == note.ALG_MLDSA]
        card.verify_card(text, ml_dsa)
    with pytest.raises(card.CardError, match="bad log key"):
        card.verify_card(text, ["garbage"])


def test_a_tampered_card_is_refused():
    text = card.signed_card()
    log_keys = keys.show_keys()["log"]
    with pytest.raises(card.CardError):
        card.verify_card(text.replace("https://a.example:8443", "https://evil.example"), log_keys)
    with pytest.raises(card.CardError):
        card.verify_card(text.split("\n\n")[0] + "\n", log_keys)  # signatures cut off


def test_only_the_strongest_types_the_reader_trusts_count():
    """A card signed only with Ed25519 fails for a reader who also trusts the Falcon key."""
    log_keys = keys.show_keys()["log"]
    ed = keys.log_signers((note.ALG_ED25519,))
    only_ed = note.sign_note(card.card_text(card.card()), ed)
    ed_vkey = [v for v in log_keys if note.parse_vkey(v).algorithm == note.ALG_ED25519]
    assert card.verify_card(only_ed, ed_vkey)["origin"] == "hospital-a.example/ledger"
    with pytest.raises(card.CardError, match="falcon-512"):
        card.verify_card(only_ed, log_keys)


def _signed(data) -> str:
    return note.sign_note(data, keys.log_signers(card.CARD_ALGORITHMS))


@pytest.mark.parametrize(
    "text",
    [
        '{"card": "qmedchain-node/v1", "origin": "hospital-a.example/ledger"}\n',  # not canonical
        canonical.dumps({"card": "qmedchain-node/v1", "origin": "hospital-z.example/ledger"}) + "\n",
        canonical.dumps({"card": "other/v9", "origin": "hospital-a.example/ledger"}) + "\n",
        canonical.dumps(["hospital-a.example/ledger"]) + "\n",
        "not json\n",
    ],
)
def test_a_card_signed_by_the_log_must_still_be_a_card_for_its_origin(text):
    with pytest.raises(card.CardError):
        card.verify_card(_signed(text), keys.show_keys()["log"])


def test_the_card_names_what_a_peer_needs_to_add_this_node():
    data = json.loads(note.split_note(card.signed_card())[0])
    assert data["log_keys"] == keys.show_keys()["log"] and data["witness_keys"] == keys.show_keys()["witness"]
