"""A patient of node A and clinicians of node B, for the tests of consent to a remote clinician
and of A's node API (one process, one database: tests/federation/twonode.py). B's clinician
Bea gets a hybrid key pair made here, so the test holds the private key that only B would hold;
her public key reaches A in B's signed directory, synced at A. From then on the process plays
A (its log origin is A's), and B's requests are signed by the real signer with B's node key."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from core import keyvault
from crypto import envelope, hybrid_kem
from federation import nodeauth
from federation.models import Peer, RemoteClinician
from portal.models import User, UserKeyPair
from tests.factories import PatientFactory
from tests.federation import twonode


@dataclass
class Sharing:
    peer: Peer
    bea: User  # B's clinician, at B
    bea_private: bytes  # her private key: only B holds it
    shadow: User  # Bea at A (role remote_clinician)
    olav: User  # another clinician of B, in the directory, granted nothing
    olav_shadow: User
    patient: User  # A's patient
    others: dict[str, tuple[User, User]]  # more clinicians of B: {name: (at B, shadow at A)}

    def headers(self, path: str, *, clinician: User | None = None) -> dict[str, str]:
        """B's signed headers for a GET of `path` at A, on behalf of `clinician` (Bea)."""
        who = clinician or self.bea
        return nodeauth.signed_headers("GET", twonode.A_BASE_URL + path, b"", str(who.pk))

    def get(self, client, path: str, *, clinician: User | None = None):
        return client.get(path, headers=self.headers(path, clinician=clinician))

    def open_wrap(self, entry: dict, ciphertext: bytes) -> bytes:
        """What B does with an object of the scan document: unwrap the data key with Bea's
        private key, decrypt the ciphertext."""
        assert hashlib.sha256(ciphertext).hexdigest() == entry["ciphertext_sha256"]
        data_key = hybrid_kem.unwrap(
            self.bea_private,
            base64.b64decode(entry["wrapped_key"]),
            context=entry["wrap_context"].encode(),
        )
        return envelope.decrypt(
            ciphertext, data_key, object_id=entry["object_id"], kind=entry["kind"], version=entry["version"]
        )


def give_keypair(user: User) -> bytes:
    """A hybrid key pair for a clinician of B, made here; returns the private key."""
    public, private = hybrid_kem.generate_keypair()
    fingerprint = hybrid_kem.key_fingerprint(public)
    UserKeyPair.objects.create(
        user=user,
        public_key=public,
        sealed_private_key=keyvault.seal(private, context=f"portal.keypair:{fingerprint}"),
        fingerprint=fingerprint,
    )
    return private


def sharing(settings, others: tuple[str, ...] = ()) -> Sharing:
    """B trusted at A; B's clinicians Bea, Olav and `others` ("First Last") in B's directory,
    synced at A."""
    twonode.be_node_b(settings)
    peer = twonode.trust_b(settings)
    bea = twonode.b_clinician("Bea Barros")
    private = give_keypair(bea)
    olav = twonode.b_clinician("Olav Ortiz")
    more = {name: twonode.b_clinician(name) for name in others}
    twonode.sync_without_http(peer)
    settings.LEDGER_ORIGIN = twonode.A_ORIGIN  # from here on this process is node A
    shadows = {r.remote_id: r.user for r in RemoteClinician.objects.filter(peer=peer).select_related("user")}
    return Sharing(
        peer=peer,
        bea=bea,
        bea_private=private,
        shadow=shadows[bea.pk],
        olav=olav,
        olav_shadow=shadows[olav.pk],
        patient=PatientFactory(first_name="Alma", last_name="Ahlberg"),
        others={name: (user, shadows[user.pk]) for name, user in more.items()},
    )


def leave_directory(settings, s: Sharing, clinician: User) -> None:
    """B's clinician leaves B (inactive there), and A syncs B's directory without them."""
    settings.LEDGER_ORIGIN = twonode.B_ORIGIN
    clinician.is_active = False
    clinician.save(update_fields=["is_active"])
    twonode.sync_without_http(s.peer)
    settings.LEDGER_ORIGIN = twonode.A_ORIGIN
