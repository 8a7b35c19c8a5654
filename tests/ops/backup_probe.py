"""Run in a subprocess against one installation (its DATABASE_URL, blob dir, master key):
prints a JSON fingerprint of what a restore must keep. For every data-key wrap, the SHA-256
of the object decrypted with that reader's key; the consents; the access history; the
ledger's size and head."""

import hashlib
import json
import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from imaging.blobs import store
    from imaging.models import ScanObject
    from imaging.pipeline.read import read_object
    from ledger.models import Entry
    from portal.models import AccessEvent, Consent, User, WrappedKey

    blobs = store()
    objects = {o.id: o for o in ScanObject.objects.all()}
    decrypted = {}
    for wrap in WrappedKey.objects.all():
        obj = objects.get(wrap.object_id)
        if obj is None:
            continue
        reader = User.objects.get(pk=wrap.reader_id) if wrap.reader_id else None
        plain = read_object(obj, reader=reader, store=blobs)
        decrypted[f"{wrap.object_id}:{wrap.reader_id}"] = hashlib.sha256(plain).hexdigest()
    consents = sorted(
        json.dumps(
            [
                str(c.pk),
                str(c.patient_id),
                str(c.grantee_user_id),
                c.actions,
                c.purposes,
                str(c.end),
                c.is_current,
                c.version,
                c.status,
            ]
        )
        for c in Consent.objects.all()
    )
    history = sorted(
        json.dumps(
            [str(a.pk), str(a.actor_id), str(a.patient_id), str(a.scan_id), a.action, a.allowed, a.reason]
        )
        for a in AccessEvent.objects.all()
    )
    last = Entry.objects.order_by("-index").first() if hasattr(Entry, "index") else None
    json.dump(
        {
            "decrypted": decrypted,
            "scans": sorted(str(o.scan_id) for o in objects.values()),
            "consents": consents,
            "history": history,
            "entries": Entry.objects.count(),
            "last_entry": getattr(last, "leaf_hash", None) and bytes(last.leaf_hash).hex(),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
