"""Example third-party client of the QMedChain API (httpx).

Obtains an OAuth2 token with client credentials, lists the scans a patient's consent lets it
see, downloads one original, fetches the scan's ledger receipt and verifies it offline
against the ledger's published keys, then prints a short report.

    python examples/client.py                      # the demo client of `manage.py seed_demo`
    python examples/client.py --base-url https://qmc.example.org --client-id ID --client-secret S

Exit status 0 when everything verified, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

DEMO_CLIENT_ID = "northside-demo-client"
DEMO_CLIENT_SECRET = "northside-demo-secret-2026"


def get_token(http: httpx.Client, client_id: str, secret: str, scope: str) -> str:
    response = http.post(
        "/o/token/", data={"grant_type": "client_credentials", "scope": scope}, auth=(client_id, secret)
    )
    response.raise_for_status()
    return response.json()["access_token"]


def list_scans(http: httpx.Client, purpose: str) -> list[dict]:
    scans, url = [], "/api/v1/scans?status=done"
    while url:
        page = http.get(url, headers={"X-Purpose-Of-Use": purpose})
        page.raise_for_status()
        body = page.json()
        scans.extend(body["results"])
        url = body["next"]
    return scans


def fetch_receipt(http: httpx.Client, receipt_url: str, wait: float) -> dict:
    """The receipt exists once a signed checkpoint covers the entry; wait for it a little."""
    deadline = time.monotonic() + wait
    while True:
        response = http.get(receipt_url)
        if response.status_code != 404 or time.monotonic() >= deadline:
            response.raise_for_status()
            return response.json()
        time.sleep(1.0)


def verify_offline(receipt: dict, keys: dict) -> dict:
    """Run the stand-alone verifier (ledger.verify_offline) with the keys pinned from /ledger/keys."""
    root = str(Path(__file__).resolve().parent.parent)  # the project root, for `ledger`
    if root not in sys.path:
        sys.path.insert(0, root)
    from ledger.verify_offline import run

    with tempfile.TemporaryDirectory() as tmp:
        keys_path, receipt_path = Path(tmp, "keys.json"), Path(tmp, "receipt.json")
        keys_path.write_text(json.dumps(keys))
        receipt_path.write_text(json.dumps(receipt))
        return run(str(keys_path), str(receipt_path))


def main(argv=None) -> int:
    """Run the walk-through; a server that cannot be reached or answers with an error is one
    line on stderr and exit status 2 (3 for a refused token), never a traceback."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--client-id", default=DEMO_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEMO_CLIENT_SECRET)
    parser.add_argument("--purpose", default="TREAT", help="X-Purpose-Of-Use (TREAT, ETREAT, HRESCH, PATRQT)")
    parser.add_argument("--out", default=".", help="directory for the downloaded file")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a ledger receipt")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except httpx.TransportError as exc:
        print(
            f"error: cannot reach the portal at {args.base_url} ({type(exc).__name__}: {exc or 'no answer'}); "
            "is it running (`make run`)?",
            file=sys.stderr,
        )
        return 2
    except httpx.HTTPStatusError as exc:
        r = exc.response
        hint = (
            " (check --client-id/--client-secret: `manage.py register_api_client`)"
            if r.url.path == "/o/token/"
            else ""
        )
        print(f"error: {r.request.method} {r.url.path} answered HTTP {r.status_code}{hint}", file=sys.stderr)
        return 3 if r.url.path == "/o/token/" else 2


def run(args) -> int:
    with httpx.Client(base_url=args.base_url, timeout=30.0) as http:
        token = get_token(http, args.client_id, args.client_secret, "scans:read ledger:read")
        http.headers["Authorization"] = f"Bearer {token}"
        scans = list_scans(http, args.purpose)
        print(f"token: ok; {len(scans)} consented scan(s) visible for purpose {args.purpose}")
        if not scans:
            print("nothing to download: no finished scan is shared with this client")
            return 1
        scan = http.get(scans[0]["url"], headers={"X-Purpose-Of-Use": args.purpose})
        scan.raise_for_status()
        detail = scan.json()
        original = http.get(detail["original_url"], headers={"X-Purpose-Of-Use": args.purpose})
        original.raise_for_status()
        name = original.headers["Content-Disposition"].split('filename="', 1)[1].rstrip('"')
        target = Path(args.out, Path(name).name)  # the server's name, never a path
        target.write_bytes(original.content)
        sha_ok = hashlib.sha256(original.content).hexdigest() == detail["original_sha256"]
        print(f"downloaded {target} ({len(original.content)} bytes), SHA-256 matches the scan: {sha_ok}")
        if not detail.get("ledger_receipt_url"):
            print("the scan has no ledger entry yet")
            return 1
        receipt = fetch_receipt(http, detail["ledger_receipt_url"], args.wait)
        keys = http.get("/api/v1/ledger/keys")
        keys.raise_for_status()
    try:
        result = verify_offline(receipt, keys.json())
    except Exception as exc:  # noqa: BLE001 - report any verification failure plainly
        print(f"receipt: verification FAILED: {exc}")
        return 1
    same_event = str(result["event_id"]) == str(detail["ledger_event_id"])
    print(
        f"receipt: {result['event_type']} #{result['index']} verified offline against the signed "
        f"checkpoint of size {result['tree_size']} (root {result['root_hash'][:16]}…); "
        f"event matches the scan: {same_event}"
    )
    return 0 if sha_ok and same_event else 1


if __name__ == "__main__":
    sys.exit(main())
