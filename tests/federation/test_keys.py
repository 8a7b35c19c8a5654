"""This node's witness keys and `show_keys`: generated once, sealed at rest, and usable."""

import pytest

from core.keyvault import unseal
from federation import keys
from federation.models import WitnessKey
from ledger import note

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def node(settings):
    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    settings.FEDERATION_WITNESS_NAME = "hospital-a.example/witness"
    keys._signer_cache.clear()


def test_show_keys_lists_the_logs_three_keys_and_the_two_witness_keys():
    shown = keys.show_keys()
    assert set(shown) == {"origin", "log", "witness"}
    assert shown["origin"] == "hospital-a.example/ledger"
    log = [note.parse_vkey(v) for v in shown["log"]]
    assert [v.algorithm for v in log] == [note.ALG_ED25519, note.ALG_MLDSA, note.ALG_FALCON]
    assert {v.name for v in log} == {"hospital-a.example/ledger"}
    witness = [note.parse_vkey(v) for v in shown["witness"]]
    assert [v.algorithm for v in witness] == [note.ALG_COSIG_V1, note.ALG_MLDSA]
    assert {v.name for v in witness} == {"hospital-a.example/witness"}


def test_keys_are_made_once():
    first = keys.show_keys()
    assert keys.show_keys() == first
    assert WitnessKey.objects.count() == 2


def test_private_keys_are_sealed_for_their_own_context():
    keys.ensure_witness_keys()
    for row in WitnessKey.objects.all():
        sealed = bytes(row.sealed_private_key)
        sk = unseal(sealed, context=f"federation.{row.algorithm}:{row.key_id}")
        assert sk not in sealed  # not stored in clear
        with pytest.raises(Exception):  # noqa: B017 - any failure: the context is bound
            unseal(sealed, context=f"ledger.{row.algorithm}:{row.key_id}")


def test_cosignatures_verify_with_the_published_keys():
    text = note.checkpoint_text("hospital-b.example/ledger", 3, bytes(32))
    lines = note.signature_lines(text, keys.witness_signers(), timestamp=1_700_000_000)
    published = [note.parse_vkey(v) for v in keys.show_keys()["witness"]]
    got = note.verified_signatures(text + "\n" + "".join(lines), published)
    assert [(v.algorithm, ts) for v, ts in got] == [
        (note.ALG_COSIG_V1, 1_700_000_000),
        (note.ALG_MLDSA, 1_700_000_000),
    ]
    assert {v.vkey for v in keys.witness_verifiers()} == {v.vkey for v in published}


def test_a_retired_key_is_replaced_and_still_verifies():
    old = keys.ensure_witness_keys()[note.ALG_COSIG_V1]
    WitnessKey.objects.filter(pk=old.pk).update(retired_at="2024-01-01T00:00:00Z")
    new = keys.ensure_witness_keys()[note.ALG_COSIG_V1]
    assert new.pk != old.pk
    assert old.key_id in {v.key_id_hex for v in keys.witness_verifiers()}
    assert note.parse_vkey(keys.show_keys()["witness"][0]).key_id_hex == new.key_id
