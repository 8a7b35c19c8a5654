"""Every page of every role at a laptop width (1366 px) and a phone width (360 px).

The page list comes from the URL inventory (tests/url_walk.py): every GET route outside the
machine interfaces (API, DICOMweb, OAuth, the network protocol, health, metrics), with its
path parameters filled from one realistic state (a patient with a consent, a finished scan, an
emergency access, ledger entries). A new page is covered as soon as it is served; one whose
parameters cannot be filled is named in SKIPPED_PARAMS and shows in the test's output.

Each role opens each page once with one browser and one logged-in context; a page that is
not an HTML 200 for that role (a refusal, JSON, a redirect elsewhere) is left to the
authorization matrix. On every page, at both widths, the test fails on:
- horizontal overflow: `document.documentElement.scrollWidth > innerWidth`;
- console errors and uncaught page errors (a failed thumbnail, a CSP violation, a script error);
- serious or critical axe-core findings (or, without axe, the documented subset: tests/e2e/a11y.py).
Screenshots: artifacts/e2e/layout-<role>-<page>-<width>.png.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.e2e.a11y import axe_serious, subset_problems
from tests.e2e.conftest import login_cookie, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (1366, 360)
HEIGHT = 800
MACHINE_PREFIXES = (
    "admin/",
    "api/",
    "dicomweb/",
    "o/",
    "federation/v1",
    "healthz",
    "metrics",
    "witness/",
    "tlog/",
    "network/gossip",
    "network/directory",
    "favicon.ico",
    ".well-known",
)
# parameters the state cannot fill (no lab run, no peer, no model card to open, no token)
SKIPPED_PARAMS = {
    "run_id",
    "peer_id",
    "evidence_id",
    "model_pk",
    "pending_id",
    "tool",
    "uidb64",
    "token",
    "job",
}

# pages whose content or navigation differs by role are laid out for every role; any other
# page (password forms, the ledger's status and entries) once, for the first role it serves
PER_ROLE = {"home", "imaging-index", "imaging-patient-scans", "imaging-scan", "ledger-explorer"}

OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"
WIDEST_JS = """(w) => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1)
  .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))"""


def _state():
    import datetime as dt

    from ledger import services as ledger_services
    from portal.access import authorize
    from portal.consent_services import breakglass_open, consent_grant
    from portal.models import AccessEvent
    from tests.api.conftest import stored_scan
    from tests.factories import (
        AdminFactory,
        AuditorFactory,
        ClinicianFactory,
        OrganisationFactory,
        PatientFactory,
    )

    org = OrganisationFactory(name="St Mary's Hospital")
    patient = PatientFactory(username="alice.layout", first_name="Alice", last_name="Archer")
    doc = ClinicianFactory(username="dr.ada.layout", first_name="Ada", last_name="Lovelace", organisation=org)
    other = ClinicianFactory(
        username="dr.grace.layout", first_name="Grace", last_name="Hopper", organisation=org
    )
    auditor = AuditorFactory(username="audrey.layout", first_name="Audrey", last_name="Auditor")
    admin = AdminFactory(username="root.layout", first_name="Ada", last_name="Admin")
    consent = consent_grant(patient=patient, grantee_user=doc, actions=["upload", "view"], purposes=["TREAT"])
    scan, _ = stored_scan(patient, uploader=doc, modality="CR")
    scan.body_part, scan.study_date = "CHEST", dt.date(2004, 1, 19)
    scan.save(update_fields=["body_part", "study_date"])
    bg = breakglass_open(clinician=other, patient=patient, reason="Unconscious in A&E, no consent on file")
    authorize(actor=other, action="list", patient=patient, purpose="ETREAT")
    authorize(actor=doc, action="view", patient=patient, scan=scan)
    ledger_services.append_all()
    ledger_services.create_checkpoint(force=True)
    event = AccessEvent.objects.filter(patient=patient, allowed=True).order_by("-at").first()
    roles = {"anonymous": None, "patient": patient, "clinician": doc, "auditor": auditor, "admin": admin}
    params = {
        "scan_id": scan.id,
        "patient_id": patient.pk,
        "index": 0,
        "series": getattr(consent, "series", None),
    }
    by_name = {"breakglass-review": {"pk": bg.pk}, "access-receipt": {"pk": event.pk}}
    return roles, params, by_name


def _pages(params: dict, by_name: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, path) of every page to visit; the routes skipped for want of a parameter."""
    from django.urls import reverse

    from tests.url_walk import served

    pages, skipped = [], []
    for route, name, pattern in served():
        if not name or route.startswith(MACHINE_PREFIXES) or name == "logout":
            continue
        wanted = list(getattr(pattern.pattern, "converters", {}))
        if any(w in SKIPPED_PARAMS for w in wanted):
            skipped.append(f"/{route}")
            continue
        values = by_name.get(name, {})
        kwargs = {w: values.get(w, params.get(w)) for w in wanted}
        if any(v is None for v in kwargs.values()):
            skipped.append(f"/{route}")
            continue
        path = reverse(name, kwargs=kwargs)
        if re.search(
            r"\.(png|json)$|/status$|/retry$|/attach$|/signoff/$|/cancel/$|/decide/$|/activate$|/verify/$",
            path,
        ):
            continue  # images, JSON and POST-only actions: no page to lay out
        pages.append((name.replace(":", "-"), path))
    return pages, skipped


def _goto(page, path: str):
    """page.goto, once more when Chromium's error page for a refused document (an empty 405)
    was still replacing the previous navigation."""
    try:
        return page.goto(path)
    except PlaywrightError as exc:
        if "interrupted by another navigation" not in str(exc):
            raise
        page.wait_for_timeout(300)
        return page.goto(path)


def _check(page, role: str, name: str, width: int, errors: list[str], axe_js) -> list[str]:
    problems = []
    page.set_viewport_size({"width": width, "height": HEIGHT})
    page.wait_for_timeout(50)
    over = page.evaluate(OVERFLOW_JS)
    if over > 0:
        problems.append(
            f"{role} {name} @{width}: {over} px wider than the viewport ({page.evaluate(WIDEST_JS, width)})"
        )
    shot(page, "layout", f"{role}-{name}-{width}")
    if width == WIDTHS[-1]:  # accessibility once per page, at the phone width
        found = axe_serious(page, axe_js) if axe_js is not None else subset_problems(page)
        problems += [f"{role} {name}: a11y {p}" for p in found]
    problems += [f"{role} {name} @{width}: console: {e}" for e in errors]
    errors.clear()
    return problems


def test_every_page_of_every_role_fits_and_is_clean(new_page, live_server, axe_js):
    started = time.monotonic()
    roles, params, by_name = _state()
    pages, skipped = _pages(params, by_name)
    assert len(pages) >= 20, pages
    problems, visited, seen, refused = [], [], set(), []
    for role, user in roles.items():
        page = new_page(width=WIDTHS[0], height=HEIGHT)
        errors: list[str] = []
        skipped_docs: set[str] = set()  # refused documents: their "failed to load" line may come late

        def on_console(m, errors=errors, skipped_docs=skipped_docs):
            where = (m.location or {}).get("url") or ""
            # chrome-error://: Chromium's own error page for a refused (skipped) document
            if m.type == "error" and where not in skipped_docs and not where.startswith("chrome-error:"):
                errors.append(f"{m.text} [{where}]")

        page.on("console", on_console)
        page.on("pageerror", lambda e, errors=errors: errors.append(f"uncaught {e}"))
        if user is not None:
            login_cookie(page, user, live_server.url)
        for name, path in pages:
            if path in seen and name not in PER_ROLE:
                continue
            try:
                response = _goto(page, path)
            except PlaywrightError as exc:  # an empty 4xx (405 to a GET): not a page
                refused.append(f"{role} {path}: {str(exc).splitlines()[0]}")
                skipped_docs.add(live_server.url + path)
                page.wait_for_timeout(150)  # let Chromium's error page settle before the next page
                errors.clear()
                continue
            if (
                response is None
                or response.status != 200
                or not response.headers.get("content-type", "").startswith("text/html")
                or response.url.split("?")[0].rstrip("/") != (live_server.url + path).rstrip("/")
            ):
                skipped_docs.add(live_server.url + path)
                refused.append(
                    f"{role} {path}: {response.status if response else 'no response'} {response.url if response else ''}"
                )
                errors.clear()  # a refusal's own "failed to load" line belongs to the matrix
                continue
            page.wait_for_load_state("load")
            visited.append(f"{role} {path}")
            seen.add(path)
            for width in WIDTHS:
                problems += _check(page, role, name, width, errors, axe_js)
    print(
        f"\nlayout: {len(visited)} pages x {len(WIDTHS)} widths in {time.monotonic() - started:.0f} s; "
        f"routes skipped for want of a parameter: {', '.join(skipped) or 'none'}"
    )
    missing = [
        must
        for must in (
            "patient /consents/",
            "patient /access-history/",
            "clinician /scans/patient/",
            "auditor /ledger/explorer/",
            "auditor /audit/breakglass/",
        )
        if not any(v.startswith(must) for v in visited)
    ]
    problems += [
        f"{must} was not visited (not an HTML 200 for that role: {[r for r in refused if r.startswith(must)]})"
        for must in missing
    ]
    assert not problems, "\n".join(problems)


def test_the_checks_catch_overflow_and_console_errors(new_page):
    """Not vacuous: a too-wide page and a script error are both caught."""
    page = new_page(width=360, height=HEIGHT)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_content(
        '<!doctype html><html lang="en"><head><title>t</title></head><body><h1>t</h1>'
        '<pre style="white-space:pre">' + "A" * 400 + "</pre></body></html>"
    )
    page.evaluate("() => console.error('boom')")
    problems = _check(page, "test", "wide", 360, errors, None)
    assert any("wider than the viewport" in p for p in problems), problems
    assert any("console: boom" in p for p in problems), problems


DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.mark.skipif(
    not os.environ.get("QMC_DOCS_SCREENSHOTS"), reason="QMC_DOCS_SCREENSHOTS=1 regenerates docs/img"
)
def test_readme_screenshots(new_page, live_server):
    """The README's "first five minutes" pictures and the phone-width views of the consent page,
    the access history and the ledger explorer (docs/img/, viewport-sized PNGs)."""
    roles, params, by_name = _state()
    DOCS_IMG.mkdir(parents=True, exist_ok=True)

    def snap(page, name):
        page.wait_for_load_state("load")
        page.screenshot(path=str(DOCS_IMG / f"{name}.png"))

    page = new_page(width=1024, height=700)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(roles["patient"].username)
    snap(page, "first-1-login")
    login_cookie(page, roles["patient"], live_server.url)
    page.goto("/consents/")
    page.locator("#grant-h").scroll_into_view_if_needed()
    snap(page, "first-2-grant")
    doc = new_page(width=1024, height=700)
    login_cookie(doc, roles["clinician"], live_server.url)
    doc.goto(f"/scans/{params['scan_id']}/")
    doc.locator("#scan-result").scroll_into_view_if_needed()
    snap(doc, "first-3-clinician-scan")
    page.goto("/access-history/")
    snap(page, "first-4-history")
    phone = new_page(width=360, height=740)
    login_cookie(phone, roles["patient"], live_server.url)
    for name, path in (("phone-consents", "/consents/"), ("phone-access-history", "/access-history/")):
        phone.goto(path)
        snap(phone, name)
    aud = new_page(width=360, height=740)
    login_cookie(aud, roles["auditor"], live_server.url)
    aud.goto("/ledger/explorer/")
    aud.locator("#entries-h").scroll_into_view_if_needed()
    snap(aud, "phone-ledger-explorer")
    for png in DOCS_IMG.glob("*.png"):
        assert png.stat().st_size <= 160_000, f"{png.name}: {png.stat().st_size} bytes"


@pytest.mark.skipif(
    not os.environ.get("QMC_DOCS_BEFORE"),
    reason="QMC_DOCS_BEFORE=<dir with an older commit's templates/ and static/> renders docs/img/before-*.png",
)
def test_readme_before_screenshots(new_page, live_server, settings):
    """The same phone-width views with an older commit's templates and styles (e.g.
    `git archive HEAD templates static | tar -x -C DIR`), for the before/after comparison.
    Before the explorer existed, the ledger page was the status page."""
    old = Path(os.environ["QMC_DOCS_BEFORE"])
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [old / "templates"]}]
    settings.STATICFILES_DIRS = [old / "static"]
    roles, params, by_name = _state()
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    phone = new_page(width=360, height=740)
    login_cookie(phone, roles["patient"], live_server.url)
    for name, path in (
        ("before-phone-consents", "/consents/"),
        ("before-phone-access-history", "/access-history/"),
    ):
        phone.goto(path)
        phone.screenshot(path=str(DOCS_IMG / f"{name}.png"))
    aud = new_page(width=360, height=740)
    login_cookie(aud, roles["auditor"], live_server.url)
    aud.goto("/ledger/")
    aud.screenshot(path=str(DOCS_IMG / "before-phone-ledger.png"))
