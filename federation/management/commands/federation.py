"""`manage.py federation <subcommand>`: this node's keys and its peers.

federation show-keys [--json]      the origin, log keys and witness keys (C2SP vkeys)
federation add-peer --origin O --vkey V [--vkey V ...] [--url URL] [--role log|witness|both]
                    [--name NAME]  trust a peer's keys (prints their fingerprints), then
                                   sync its clinician directory once if it has a URL
federation peers [--json]          the peers and their keys
federation policy [--json]         the witness policy of this node's log (Sigsum format)
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from federation.keys import show_keys
from federation.models import Peer
from federation.peers import add_peer, fingerprint, parse_vkeys
from federation.quorum import PolicyFileError, effective_policy, policy_file
from federation.tasks import sync_directories
from ledger import note
from ledger.policy import format_policy


class Command(BaseCommand):
    help = "This node's keys and its peers in the hospital network."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{show-keys,add-peer,peers,policy}")
        keys = sub.add_parser("show-keys", help="print this node's origin and public keys")
        keys.add_argument("--json", action="store_true", help='{"origin", "log": [...], "witness": [...]}')
        add = sub.add_parser("add-peer", help="trust a peer's keys for its origin")
        add.add_argument("--origin", required=True, help="the peer log's origin (checkpoint first line)")
        add.add_argument(
            "--vkey", action="append", required=True, help="a C2SP verifier key; repeat for each"
        )
        add.add_argument("--url", default="", help="the peer portal's base URL")
        add.add_argument("--role", default=Peer.ROLE_BOTH, choices=[r for r, _ in Peer.ROLES])
        add.add_argument("--name", default="", help="a display name")
        peers = sub.add_parser("peers", help="list the peers and their keys")
        peers.add_argument("--json", action="store_true")
        policy = sub.add_parser(
            "policy", help="print the witness policy that decides when a checkpoint is witnessed"
        )
        policy.add_argument("--json", action="store_true", help='{"source", "policy", "quorum", "witnesses"}')

    def handle(self, *args, **opts):
        action = opts["action"]
        if action == "show-keys":
            return self._show_keys(opts["json"])
        if action == "add-peer":
            return self._add_peer(opts)
        if action == "policy":
            return self._policy(opts["json"])
        return self._peers(opts["json"])

    def _policy(self, as_json: bool) -> None:
        try:
            policy = effective_policy()
        except PolicyFileError as e:
            raise CommandError(str(e)) from None
        source = policy_file() or "a majority of the trusted witness peers (no QMC_WITNESS_POLICY)"
        if as_json:
            witnesses = [
                {"name": w.name, "public_key": w.public_key.hex()} for w in policy.witnesses.values()
            ]
            out = {
                "source": source,
                "policy": format_policy(policy),
                "quorum": policy.quorum,
                "witnesses": witnesses,
            }
            self.stdout.write(json.dumps(out))
            return
        self.stdout.write(f"# {source}\n{format_policy(policy)}", ending="")

    def _show_keys(self, as_json: bool) -> None:
        keys = show_keys()
        if as_json:
            self.stdout.write(json.dumps(keys))
            return
        self.stdout.write(f"origin  {keys['origin']}")
        for purpose in ("log", "witness"):
            for vkey in keys[purpose]:
                v = note.parse_vkey(vkey)
                self.stdout.write(f"{purpose:<8}{v.algorithm:<16}{fingerprint(v)}  {vkey}")

    def _add_peer(self, opts) -> None:
        try:
            peer = add_peer(
                origin=opts["origin"],
                vkeys=opts["vkey"],
                url=opts["url"],
                role=opts["role"],
                name=opts["name"],
            )
            keys = parse_vkeys(peer.origin, opts["vkey"])
        except ValueError as e:
            raise CommandError(str(e)) from None
        self.stdout.write(
            f"trusted {peer.origin} as {peer.role}" + ("" if peer.trusted else " (marked untrusted)")
        )
        for purpose, v in keys:
            self.stdout.write(f"  {purpose:<8}{v.name}+{v.key_id_hex} {v.algorithm:<16}{fingerprint(v)}")
        if peer.url and peer.trusted:
            self._sync_directory(peer)

    def _sync_directory(self, peer: Peer) -> None:
        """Once now (then every few minutes: federation.sync_directories), so that its
        clinicians can be granted at once."""
        result = sync_directories([peer])
        if peer.origin in result["synced"]:
            done = result["synced"][peer.origin]
            self.stdout.write(f"  directory version {done['version']}: {done['added']} clinician(s) added")
        else:
            self.stderr.write(
                f"  directory not synced yet ({result['failed'][peer.origin]}); retried periodically"
            )

    def _peers(self, as_json: bool) -> None:
        rows = []
        for peer in Peer.objects.prefetch_related("keys").order_by("origin"):
            keys = [
                {
                    "purpose": k.purpose,
                    "algorithm": k.algorithm,
                    "vkey": k.vkey,
                    "fingerprint": fingerprint(note.parse_vkey(k.vkey)),
                }
                for k in peer.keys.all()
            ]
            rows.append(
                {
                    "origin": peer.origin,
                    "name": peer.name,
                    "url": peer.url,
                    "role": peer.role,
                    "trusted": peer.trusted,
                    "untrusted_reason": peer.untrusted_reason,
                    "keys": keys,
                }
            )
        if as_json:
            self.stdout.write(json.dumps(rows))
            return
        if not rows:
            self.stdout.write("no peers")
        for row in rows:
            state = "trusted" if row["trusted"] else f"UNTRUSTED: {row['untrusted_reason']}"
            self.stdout.write(f"{row['origin']}  {row['role']}  {row['url'] or '-'}  {state}")
            for k in row["keys"]:
                self.stdout.write(f"  {k['purpose']:<8}{k['algorithm']:<16}{k['fingerprint']}")
