"""Run as a separate process: record and append events against DATABASE_URL.

    python -m tests.ledger.appender COUNT BATCH
Used by the concurrency test and bench/ledger.py. Prints one JSON line with timings.
"""

import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def main() -> None:
    import django

    django.setup()
    from ledger.services import append_pending, record_event

    count, batch = int(sys.argv[1]), int(sys.argv[2])
    pid = f"{os.getpid():032x}"[-32:]
    t0 = time.perf_counter()
    appended = 0
    for start in range(0, count, batch):
        for _ in range(min(batch, count - start)):
            record_event(event_type="scan.accessed", payload={"scan_id": 12345, "actor": pid})
        appended += append_pending(max_batch=batch)
    while True:  # drain whatever is left (another process may have taken ours)
        n = append_pending(max_batch=batch)
        if not n:
            break
        appended += n
    print(json.dumps({"recorded": count, "appended": appended, "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
