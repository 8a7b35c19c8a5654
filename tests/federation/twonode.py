"""Nodes A and B in one test process, for the node-to-node tests: the process IS node B (its
settings name B's origin, so the real views serve B's node card and directory, and the real
signer signs with B's node key), while the test plays node A by calling A's side (verify,
fetch_and_sync) against a `Peer` row for B made with the real `add_peer` from B's log keys.
Both sides share one database: B's clinicians are `clinician` users, A's shadow users of
them are `remote_clinician` users, so neither side sees the other's rows as its own."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from federation import card, directory, http, keys, nodeauth, peers
from federation.models import Peer
from federation.peers import log_verifiers
from portal.models import Organisation, User
from tests.factories import ClinicianFactory, OrganisationFactory

A_ORIGIN = "hospital-a.example/ledger"
B_ORIGIN = "hospital-b.example/ledger"
B_NAME = "Hospital B"
A_BASE_URL = "https://a.example"


def be_node_b(settings) -> None:
    settings.LEDGER_ORIGIN = B_ORIGIN
    settings.FEDERATION_WITNESS_NAME = "hospital-b.example/witness"
    settings.FEDERATION_NODE_NAME = B_NAME
    # the base URL A's verifier rebuilds @target-uri from; B signs for it
    settings.FEDERATION_BASE_URL = A_BASE_URL
    keys._signer_cache.clear()


def trust_b(settings, *, url: str = "", log_vkeys: list[str] | None = None) -> Peer:
    """A's peer row for B, with B's real log keys (or `log_vkeys`), added as an administrator
    would (add_peer refuses the node's own origin, so it runs under A's)."""
    vkeys = log_vkeys if log_vkeys is not None else keys.show_keys()["log"]
    settings.LEDGER_ORIGIN = A_ORIGIN
    try:
        return peers.add_peer(origin=B_ORIGIN, vkeys=vkeys, url=url, role=Peer.ROLE_LOG, name=B_NAME)
    finally:
        settings.LEDGER_ORIGIN = B_ORIGIN


def b_clinician(name: str = "Bea Barros") -> User:
    first, last = name.split(" ", 1)
    organisation = Organisation.objects.filter(name=B_NAME).first() or OrganisationFactory(name=B_NAME)
    return ClinicianFactory(first_name=first, last_name=last, organisation=organisation)


def sync_without_http(peer: Peer) -> directory.SyncResult:
    """What fetch_and_sync does, minus the HTTP: B's node key from B's signed card verified
    with A's keys for B, and B's signed directory verified the same way."""
    entry = card.verify_card(card.signed_card(), log_verifiers(peer))["node_key"]
    key = nodeauth.store_node_key(peer, nodeauth.parse_node_key(entry))
    data = directory.verify_directory(directory.signed_directory(), peer)
    return directory.sync(peer, data, node_key_id=key.key_id)


class StaticPeer:
    """A peer over real HTTP serving fixed texts ({path: text}; 404 elsewhere): B's real
    card and a forged or replayed directory, or a forged card."""

    def __init__(self, pages: dict[str, str]):
        self.pages = pages
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                text = peer.pages.get(self.path)
                payload = (text if text is not None else "not found\n").encode()
                self.send_response(200 if text is not None else 404)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> StaticPeer:
        return self

    def __exit__(self, *exc) -> None:
        http.close()
        self._httpd.shutdown()
        self._httpd.server_close()
