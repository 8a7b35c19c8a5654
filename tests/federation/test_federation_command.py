"""`manage.py federation show-keys | add-peer | peers`."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from federation import keys
from federation.models import Peer
from federation.peers import fingerprint
from ledger import note
from tests.federation.peer_log import PeerLog

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "hospital-b.example/ledger"


@pytest.fixture(autouse=True)
def node(settings):
    settings.LEDGER_ORIGIN = "hospital-a.example/ledger"
    settings.FEDERATION_WITNESS_NAME = "hospital-a.example/witness"
    keys._signer_cache.clear()


def run(*args) -> str:
    out = StringIO()
    call_command("federation", *args, stdout=out)
    return out.getvalue()


def test_show_keys_json_is_exactly_origin_log_witness():
    data = json.loads(run("show-keys", "--json"))
    assert list(data) == ["origin", "log", "witness"]
    assert data == keys.show_keys()
    assert data["origin"] == "hospital-a.example/ledger"
    assert len(data["log"]) == 3 and len(data["witness"]) == 2


def test_show_keys_for_people_prints_fingerprints():
    text = run("show-keys")
    assert "hospital-a.example/ledger" in text
    for vkey in keys.show_keys()["log"] + keys.show_keys()["witness"]:
        assert vkey in text and fingerprint(note.parse_vkey(vkey)) in text


def test_one_nodes_show_keys_is_anothers_add_peer(settings):
    """What node A prints is what node B's administrator pastes (here: into the same database,
    under another origin for A, as B would see it)."""
    a = json.loads(run("show-keys", "--json"))
    Peer.objects.all().delete()
    vkeys = [arg for v in a["log"] + a["witness"] for arg in ("--vkey", v)]
    # B adds A: for B, A's origin is a peer's origin (B's own origin is another one)
    settings.LEDGER_ORIGIN = "hospital-b.example/ledger"
    out = run("add-peer", "--origin", a["origin"], *vkeys, "--url", "https://a.example", "--role", "both")
    peer = Peer.objects.get(origin=a["origin"])
    assert peer.role == "both" and peer.url == "https://a.example"
    for v in a["log"] + a["witness"]:
        assert fingerprint(note.parse_vkey(v)) in out


def test_add_peer_then_peers_lists_it():
    log = PeerLog(ORIGIN)
    out = run(
        "add-peer",
        "--origin",
        ORIGIN,
        "--vkey",
        log.vkeys[0],
        "--vkey",
        log.vkeys[1],
        "--role",
        "log",
        "--name",
        "Hospital B",
    )
    assert f"trusted {ORIGIN} as log" in out
    assert all(fingerprint(v) in out for v in log.verifiers)
    again = run(
        "add-peer", "--origin", ORIGIN, "--vkey", log.vkeys[0], "--vkey", log.vkeys[1], "--role", "log"
    )
    assert again.splitlines()[0] == out.splitlines()[0] and Peer.objects.count() == 1
    rows = json.loads(run("peers", "--json"))
    assert [(r["origin"], r["name"], r["role"], r["trusted"]) for r in rows] == [
        (ORIGIN, "Hospital B", "log", True)
    ]
    assert [k["vkey"] for k in rows[0]["keys"]] == log.vkeys
    assert ORIGIN in run("peers")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--vkey", "garbage"], "malformed verifier key"),
        (["--vkey", "LOG", "--role", "witness"], "needs a witness key"),
        (["--vkey", "OTHER"], "not for the origin"),
    ],
)
def test_errors_are_command_errors_with_the_message(args, message):
    log, other = PeerLog(ORIGIN), PeerLog("hospital-c.example/ledger")
    args = [{"LOG": log.vkeys[0], "OTHER": other.vkeys[0]}.get(a, a) for a in args]
    with pytest.raises(CommandError, match=message):
        run("add-peer", "--origin", ORIGIN, *args)
    assert not Peer.objects.exists()


def test_an_error_exits_1_with_the_message_on_stderr(settings):
    env = dict(os.environ, QMC_MASTER_KEY=settings.QMC_MASTER_KEY, SECRET_KEY=settings.SECRET_KEY)
    p = subprocess.run(
        [sys.executable, "manage.py", "federation", "add-peer", "--origin", ORIGIN, "--vkey", "not-a-key"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 1
    assert "malformed verifier key" in p.stderr and "Traceback" not in p.stderr
