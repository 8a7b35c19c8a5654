"""python manage.py ledger {verify [--json] [--openings] | export PATH | rotate-keys | checkpoint [--force]
| append | seed-demo [--count N]}"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Ledger maintenance: verify, export, rotate-keys, checkpoint, append, seed-demo."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        v = sub.add_parser("verify", help="re-verify the whole ledger; exit 1 naming the first bad index")
        v.add_argument("--json", action="store_true", help="print the report as JSON")
        v.add_argument(
            "--openings",
            action="store_true",
            help="also check every opening of the private index against its entry's commitments",
        )
        e = sub.add_parser("export", help="write entries, checkpoints and public keys as JSON")
        e.add_argument("path")
        sub.add_parser("rotate-keys", help="retire the signing keys, make new ones (a key.rotated event)")
        c = sub.add_parser("checkpoint", help="append pending events and sign a checkpoint now")
        c.add_argument("--force", action="store_true")
        sub.add_parser("append", help="sign and append all pending events now")
        d = sub.add_parser("seed-demo", help="record, append and checkpoint N demo events")
        d.add_argument("--count", type=int, default=20)

    def handle(self, *args, **opts):
        action = opts["action"]
        if action == "verify":
            from ledger.verification import verify_database

            report = verify_database(check_openings=opts["openings"])
            if opts["json"]:
                self.stdout.write(json.dumps(report, indent=2))
            elif report["ok"]:
                self.stdout.write(
                    f"OK: {report['entries']} entries and {report['checkpoints']} checkpoints verified"
                    + (f", {report['openings']} openings match" if "openings" in report else "")
                    + f" ({report['seconds']} s)"
                )
            else:
                f = report["failure"]
                self.stderr.write(f"FAILED at index {f['index']}: {f['check']}: {f['message']}")
            if not report["ok"]:
                sys.exit(1)
        elif action == "export":
            from ledger.verification import export_to

            try:
                with open(opts["path"], "w", encoding="utf-8") as fh:
                    counts = export_to(fh)
            except OSError as exc:
                raise CommandError(f"cannot write {opts['path']}: {exc}") from None
            self.stdout.write(
                f"exported {counts['entries']} entries and {counts['checkpoints']} checkpoints to {opts['path']}"
            )
        elif action == "rotate-keys":
            from ledger.services import append_all, create_checkpoint, rotate_keys

            events = rotate_keys()
            append_all()
            create_checkpoint(force=True)
            self.stdout.write(f"rotated; key.rotated events {', '.join(str(e) for e in events)}")
        elif action == "checkpoint":
            from ledger.services import append_all, create_checkpoint

            append_all()
            cp = create_checkpoint(force=opts["force"])
            self.stdout.write(f"checkpoint at size {cp.tree_size}" if cp else "no new checkpoint needed")
        elif action == "append":
            from ledger.services import append_all

            self.stdout.write(f"appended {append_all()} entries")
        elif action == "seed-demo":
            from ledger.demo import seed_demo

            self.stdout.write(json.dumps(seed_demo(opts["count"])))
