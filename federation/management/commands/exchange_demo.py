"""`manage.py exchange_demo`: a patient of this node shares their scans with a clinician of a
peer (the exchange of issue 22, for `make network` and the three-node tests). Run on the
patient's node (A) once the peer (B) is up; prints one JSON object.

exchange_demo share --peer ORIGIN [--clinician "Ada Lovelace"] [--patient alice]
                    [--seconds N | --days N] [--wait SECONDS]
    sync B's signed clinician directory now, wait (up to --wait) until the patient's scans are
    processed, then grant the clinician (the shadow user of B's directory entry) `view` for
    treatment on all the patient's scans, until N seconds / days from now (default 30 days).
    Prints {"consent_id", "patient", "clinician", "clinician_id" (at B), "peer", "scans":
    [{"id", "format", "registration_event_id"}]}.
exchange_demo revoke --consent ID
    the patient revokes that consent (as on their consents page); prints {"revoked": true|false}.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from federation.card import CardError
from federation.directory import DirectoryError, fetch_and_sync
from federation.http import PeerUnreachable
from federation.models import RemoteClinician
from federation.peers import trusted_peer
from imaging.models import Scan, ScanStatus
from portal.consent_services import ConsentError, consent_grant, consent_revoke
from portal.models import Consent, ConsentStatus, Role, User


class Command(BaseCommand):
    help = "A patient of this node shares their scans with a clinician of a peer node (demo)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{share,revoke}")
        share = sub.add_parser("share", help="grant a peer's clinician access to a patient's scans")
        share.add_argument("--peer", required=True, help="the peer's origin")
        share.add_argument(
            "--clinician", default="", help="display name in its directory (default: the first)"
        )
        share.add_argument("--patient", default="alice", help="username of the patient here")
        period = share.add_mutually_exclusive_group()
        period.add_argument("--seconds", type=int, help="the consent ends this many seconds from now")
        period.add_argument("--days", type=int, default=30, help="the consent ends this many days from now")
        share.add_argument("--wait", type=float, default=180.0, help="seconds to wait for the scans")
        revoke = sub.add_parser("revoke", help="the patient revokes a consent")
        revoke.add_argument("--consent", required=True)

    def handle(self, *args, **opts):
        out = self._share(opts) if opts["action"] == "share" else self._revoke(opts["consent"])
        self.stdout.write(json.dumps(out, sort_keys=True))

    def _share(self, opts) -> dict:
        peer = trusted_peer(opts["peer"])
        if peer is None or not peer.url:
            raise CommandError(f"{opts['peer']} is not a trusted peer with a URL here")
        patient = User.objects.filter(username=opts["patient"], role=Role.PATIENT).first()
        if patient is None:
            raise CommandError(f"no patient {opts['patient']!r} here (run seed_demo first)")
        try:
            fetch_and_sync(peer)
        except (DirectoryError, CardError, PeerUnreachable) as exc:
            raise CommandError(f"could not sync {peer.origin}'s clinician directory: {exc}") from None
        remote = RemoteClinician.objects.filter(peer=peer, active=True).select_related("user")
        if opts["clinician"]:
            remote = remote.filter(display_name=opts["clinician"])
        chosen = remote.order_by("display_name").first()
        if chosen is None:
            raise CommandError(f"no clinician {opts['clinician']!r} in {peer.origin}'s directory")
        scans = self._processed_scans(patient, opts["wait"])
        end = timezone.now() + (
            timedelta(seconds=opts["seconds"]) if opts["seconds"] else timedelta(days=opts["days"])
        )
        consent = self._in_force(patient, chosen.user)  # run again (make network): the same grant
        if consent is None:
            try:
                consent = consent_grant(
                    patient=patient, grantee_user=chosen.user, actions=["view"], purposes=["TREAT"], end=end
                )
            except ConsentError as exc:
                raise CommandError(str(exc)) from None
        return {
            "consent_id": str(consent.id),
            "patient": patient.display_name(),
            "clinician": chosen.user.display_name(),
            "clinician_id": str(chosen.remote_id),
            "peer": peer.origin,
            "ends_at": consent.end.isoformat() if consent.end else None,
            "scans": [
                {"id": str(s.id), "format": s.source_format, "registration_event_id": str(s.ledger_event_id)}
                for s in scans
            ],
        }

    def _in_force(self, patient: User, grantee: User) -> Consent | None:
        now = timezone.now()
        for consent in Consent.objects.filter(patient=patient, grantee_user=grantee, is_current=True):
            if consent.effective_status(now) == ConsentStatus.ACTIVE and "view" in consent.actions:
                return consent
        return None

    def _processed_scans(self, patient: User, wait: float) -> list[Scan]:
        deadline = time.monotonic() + wait
        while True:
            scans = list(Scan.objects.filter(patient=patient).order_by("created_at"))
            pending = [s for s in scans if s.status not in (ScanStatus.DONE, ScanStatus.FAILED)]
            if scans and not pending:
                return [s for s in scans if s.status == ScanStatus.DONE and s.ledger_event_id]
            if time.monotonic() > deadline:
                raise CommandError(
                    f"{patient.username}'s scans are not processed after {wait:g} s (is the worker running?)"
                )
            time.sleep(0.5)

    def _revoke(self, consent_id: str) -> dict:
        consent = Consent.objects.filter(pk=consent_id).select_related("patient").first()
        if consent is None:
            raise CommandError(f"no consent {consent_id}")
        _, changed = consent_revoke(actor=consent.patient, consent=consent)
        return {"revoked": changed}
