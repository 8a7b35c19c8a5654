"""Every URL the project serves is in an authorization matrix, and a new one fails the suite.

URLs that touch patient data are columns of the actor-by-URL matrix in tests/api/test_matrix.py.
Every other URL is a row of OTHERS below, with what an anonymous outsider and a signed-in patient
(an ordinary user, not staff) get when they ask for it over HTTP. The admin site is one class:
every admin URL sends both to the admin's login page.

A cell is a status code, or ``login`` (redirect to the portal's login page) or ``admin``
(redirect to the admin's login page).
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, reverse

from tests.api.test_matrix import NOT_PATIENT_DATA, OPS
from tests.factories import PatientFactory
from tests.url_walk import served as _served

# name: (method, anonymous, patient)
OTHERS: dict[str, tuple[str, str, str]] = {
    "home": ("get", "login", "200"),
    "favicon": ("get", "301", "301"),
    "healthz": ("get", "200", "200"),
    "healthz-live": ("get", "200", "200"),
    "healthz-ready": ("get", "200", "200"),
    # Prometheus text: the test client comes from 127.0.0.1, allowed by default; other addresses
    # without the bearer token get 404 (tests/portal/test_metrics.py)
    "metrics": ("get", "200", "200"),
    # erasure by crypto-shredding (portal/views_erasure.py): a patient's own request (no other
    # patient's data is reachable: a request of someone else is 404); administrators decide
    # (every role's outcome: tests/ops/test_erasure.py)
    "erasure": ("get", "login", "200"),
    "erasure-cancel": ("post", "login", "404"),
    "erasure-queue": ("get", "login", "403"),
    "erasure-decide": ("post", "login", "403"),
    "login": ("get", "200", "302"),
    "logout": ("post", "login", "login"),
    "password_change": ("get", "login", "200"),
    "password_change_done": ("get", "login", "200"),
    "password_reset": ("get", "200", "200"),
    "password_reset_done": ("get", "200", "200"),
    "password_reset_confirm": ("get", "200", "200"),
    "password_reset_complete": ("get", "200", "200"),
    "2fa-setup": ("get", "login", "200"),
    "2fa-verify": ("get", "login", "302"),
    "time-zone": ("get", "login", "200"),  # everyone's own setting (portal/views_history.py)
    "api-me": ("get", "401", "200"),
    "schema": ("get", "200", "200"),
    "api-docs": ("get", "200", "200"),
    "api-redoc": ("get", "200", "200"),
    "ledger:status": ("get", "200", "200"),
    # the ledger explorer (ledger/explorer_views.py): public reads like the status page and the
    # ledger API; "verify now" and its progress for auditors and administrators
    "ledger:explorer": ("get", "200", "200"),
    "ledger:entry": ("get", "404", "404"),  # an empty log has no entry 1
    "ledger:verify": ("post", "login", "403"),
    "ledger:verify-status": ("get", "login", "403"),
    "ledger-api-checkpoint": ("get", "404", "404"),  # an empty log has no checkpoint yet
    "ledger-api-entries": ("get", "200", "200"),
    "ledger-api-entry": ("get", "400", "400"),
    "ledger-api-consistency": ("get", "400", "400"),
    "ledger-api-receipt": ("get", "404", "404"),  # public receipts carry commitments, no openings
    "ledger-api-keys": ("get", "200", "200"),
    "imaging:models": ("get", "login", "403"),
    "imaging:model-activate": ("post", "login", "403"),
    "imaging:model-card": ("get", "login", "404"),
    "lab:index": ("get", "login", "403"),
    "lab:new": ("get", "login", "403"),
    # OAuth 2.0: only the client-credentials token, revocation and introspection endpoints
    "oauth2_provider:token": ("post", "400", "400"),
    "oauth2_provider:revoke-token": ("post", "400", "400"),
    "oauth2_provider:introspect": ("post", "401", "401"),
    # the hospital network's machine protocol (federation/views_protocol.py): no session needed;
    # add-checkpoint is authenticated by the log's signature (an empty body is malformed: 400)
    "witness-add-checkpoint": ("post", "400", "400"),
    "node-card": ("get", "200", "200"),
    # c2sp.org/tlog-tiles reads of this node's log (federation/views_tiles.py): public; an empty
    # log has no checkpoint yet, and "tile/x" is not a tile path
    "tlog-checkpoint": ("get", "404", "404"),
    "tlog-tile": ("get", "400", "400"),
    # what this node cosigned for the logs it witnesses (federation/views_gossip.py): public, signed
    "gossip-cosigned": ("get", "200", "200"),
    # this node's clinicians as a note signed by the log's keys (federation/views_directory.py):
    # public like the node card, read by peers to sync (names, organisations, public keys)
    "clinician-directory": ("get", "200", "200"),
    # the network's pages (federation/views.py): auditors and administrators; adding a peer
    # administrators only (every role's outcome: tests/api/test_matrix.py NETWORK_MATRIX)
    "federation:network": ("get", "login", "403"),
    "federation:peer": ("get", "login", "403"),
    "federation:peer-quantum": ("post", "login", "403"),
    "federation:peer-add": ("get", "login", "403"),
    "federation:evidence-list": ("get", "login", "403"),
    "federation:evidence-json": ("get", "login", "403"),
    # scans other hospitals share with this node's clinicians (federation/views_remote.py): fetched
    # from that hospital under the patient's consent there; clinicians only
    # (tests/federation/test_remote.py test_only_this_hospitals_clinicians_open_shared_scans)
    "federation:shared": ("get", "login", "403"),
    "federation:remote-scan": ("get", "login", "403"),
}


def _kwargs(pattern: URLPattern) -> dict:
    out = {}
    for key, conv in getattr(pattern.pattern, "converters", {}).items():
        kind = type(conv).__name__
        out[key] = uuid.uuid4() if kind == "UUIDConverter" else 1 if kind == "IntConverter" else "x"
    if not out:  # regex patterns (the admin's) name their groups
        out = {
            key: "portal" if key == "app_label" else "1"
            for key in re.compile(str(pattern.pattern)).groupindex
        }
    return out


def _outcome(response) -> str:
    location = response.get("Location", "") if response.status_code in (301, 302) else ""
    if location.startswith(reverse("admin:login")):
        return "admin"
    if location.startswith(reverse("login")):
        return "login"
    return str(response.status_code)


def test_every_url_is_in_a_matrix():
    matrix = {name for name, *_ in OPS.values()} | NOT_PATIENT_DATA
    missing = sorted(
        f"/{route} ({name})"
        for route, name, _ in _served()
        if not route.startswith("admin/") and name not in matrix | set(OTHERS)
    )
    assert not missing, (
        "URLs in no authorization matrix: add them to tests/api/test_matrix.py (patient data) "
        f"or to OTHERS in tests/security/test_url_inventory.py: {missing}"
    )
    unknown = set(OTHERS) - {name for _, name, _ in _served()}
    assert not unknown, f"OTHERS lists URL names the project no longer serves: {sorted(unknown)}"


@pytest.mark.parametrize("actor", ["anonymous", "patient"])
def test_others_answer_as_listed(actor, client, db):
    user = PatientFactory()
    by_name = {name: pattern for _, name, pattern in _served()}
    wrong = {}
    for name, (method, anonymous, patient) in OTHERS.items():
        if actor == "patient":
            client.force_login(user)  # again: the logout row ends the session
        url = reverse(name, kwargs=_kwargs(by_name[name]))
        got = _outcome(getattr(client, method)(url))
        want = anonymous if actor == "anonymous" else patient
        if got != want:
            wrong[name] = f"expected {want}, got {got}"
    assert not wrong, f"{actor}: {wrong}"


@pytest.mark.parametrize("actor", ["anonymous", "patient"])
def test_every_admin_url_sends_outsiders_to_the_admin_login(actor, client, db):
    if actor == "patient":
        client.force_login(PatientFactory())
    wrong = {}
    admin_urls = [(route, name, p) for route, name, p in _served() if route.startswith("admin/")]
    assert len(admin_urls) > 20
    for route, name, pattern in admin_urls:
        if name in ("admin:login", "admin:logout", "admin:jsi18n") or name is None:
            continue
        url = reverse(name, kwargs=_kwargs(pattern))
        got = _outcome(client.get(url))
        if got not in ("admin", "404"):
            wrong[f"/{route}"] = got
    assert not wrong, f"{actor} reached admin pages: {wrong}"
