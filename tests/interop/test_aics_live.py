"""Our running node against the independent implementation (aics-witness / aics-tlog, Python 3.12,
their own venv): their verifier reads our /tlog/ checkpoint and tiles, their log's feeder gets our
witness's cosignatures, and our log's push gets theirs (verified and stored)."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation import keys, push
from federation.models import Cosignature, WitnessedLog
from federation.peers import add_peer
from ledger import merkle, note
from ledger.selectors import verifiers
from ledger.services import origin as our_origin
from tests.federation.logside import grow_log
from tests.interop import aics
from tests.interop import c2sp_plain as c2sp

pytestmark = [pytest.mark.interop, pytest.mark.django_db(transaction=True)]


def _our_ed25519_vkey() -> str:
    return next(v for v in verifiers() if v.algorithm == note.ALG_ED25519).vkey


def test_their_verifier_reads_our_checkpoint_and_tiles(live_server, aics_python):
    grow_log(600)  # more than two full level-0 tiles, and a partial one
    url = live_server.url + "/tlog/"
    vkey = _our_ed25519_vkey()
    for args in (
        ["verify-checkpoint"],
        ["verify-inclusion", "--index", "517"],
        ["verify-inclusion", "--index", "3"],
        ["verify-consistency", "--old-size", "0", "--old-root", c2sp.b64(merkle.EMPTY_ROOT)],
    ):
        rc, out = aics.aics_tlog_cli(args[0], "--tiles", url, "--log-key", vkey, *args[1:])
        assert rc == 0, (args, out)


def test_their_log_gets_our_witness_cosignature(live_server, aics_python, settings):
    settings.FEDERATION_WITNESS_NAME = "hospital-a.example/witness"
    keys._signer_cache.clear()
    keys.ensure_witness_keys()
    [ours] = [v for v in keys.witness_verifiers() if v.algorithm == note.ALG_COSIG_V1]
    seed = bytes(range(32))
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    origin = "aics-log.example/feed"
    peer = add_peer(origin=origin, vkeys=[c2sp.vkey(origin, c2sp.ED25519, public)], role="log")
    fed = aics.driver(
        "feed",
        witness_url=live_server.url + "/witness",
        witness_vkey=ours.vkey,
        origin=origin,
        log_seed=seed.hex(),
        entries=[c2sp.b64(b"m%d" % i) for i in range(9)],
        sizes=[4, 9],
    )
    assert fed["ok"], fed
    assert WitnessedLog.objects.get(peer=peer).size == 9


def test_our_log_gets_their_witness_cosignature(aics_witness_factory):
    grow_log(7)
    witness = aics_witness_factory(
        "aics-witness.example/w1", {our_origin(): [_our_ed25519_vkey()]}, prefix="/witness"
    )
    peer = add_peer(
        origin="aics-witness.example/node",
        vkeys=[witness.vkey],
        url=witness.url.removesuffix("/witness"),
        role="witness",
    )
    first = push.push_all()
    assert first[0].ok and first[0].accepted == 1, first
    grow_log(30)
    second = push.push_all()
    assert second[0].ok and second[0].accepted == 1, second
    stored = list(Cosignature.objects.filter(peer=peer).select_related("checkpoint"))
    assert len(stored) == 2
    their_key = note.parse_vkey(witness.vkey)
    for cosig in stored:  # each stored line verifies under their published key
        signed = note.add_signatures(cosig.checkpoint.note, [cosig.line])
        assert [v.vkey for v, _ in note.verified_signatures(signed, [their_key])] == [witness.vkey]
