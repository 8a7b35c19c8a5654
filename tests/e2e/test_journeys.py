"""The five journeys of issue 8, in a real browser against the live server and a real worker.

Each test builds what its journey needs beforehand with services and factories (fast, no
browser) and then does the journey itself the way a person does: forms, buttons, dialogs.
Screenshots go to artifacts/e2e/<journey>-<step>.png.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import wait_for
from tests.e2e.conftest import ARTIFACTS, enrol_totp, login_cookie, login_form, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


# --- setup helpers ------------------------------------------------------------------------------


def _people():
    from tests.factories import AuditorFactory, ClinicianFactory, OrganisationFactory, PatientFactory

    org = OrganisationFactory(name="St Mary's Hospital")
    patient = PatientFactory(username="alice.e2e", first_name="Alice", last_name="Archer")
    doc = ClinicianFactory(username="dr.ada.e2e", first_name="Ada", last_name="Lovelace", organisation=org)
    auditor = AuditorFactory(username="audrey.e2e", first_name="Audrey", last_name="Auditor")
    enrol_totp(doc)
    return patient, doc, auditor


def _grant(patient, doc, actions, days=30):
    from portal.consent_services import consent_grant

    return consent_grant(
        patient=patient,
        grantee_user=doc,
        actions=actions,
        purposes=["TREAT"],
        end=timezone.now() + timedelta(days=days),
    )


def _ledger_settled():
    from ledger.models import PendingEvent

    return not PendingEvent.objects.exists()


# --- journey 1 ----------------------------------------------------------------------------------


def test_journey1_patient_grants_view_for_treatment_for_30_days(new_page):
    from portal.models import Consent

    patient, doc, _ = _people()
    page = new_page()
    login_form(page, patient, journey="journey1")
    page.get_by_role("link", name="My consents").first.click()
    page.get_by_role("heading", name="My consents", level=1).wait_for()
    shot(page, "journey1", "consents-before")

    page.get_by_label("Who may access").select_option(label="Ada Lovelace (Clinician)")
    for label, want in [
        ("View scans and results", True),
        ("Download original images", False),
        ("Upload new scans", False),
    ]:
        page.get_by_label(label).set_checked(want)
    for label, want in [("Treatment", True), ("Healthcare research", False)]:
        page.get_by_label(label, exact=True).set_checked(want)
    page.get_by_label("All my scans").check()
    page.get_by_label("For how many days").fill("30")
    summary = page.locator("#grant-summary")
    assert "Ada Lovelace" in summary.inner_text()
    assert "view scans and results" in summary.inner_text()
    assert "for treatment" in summary.inner_text()
    assert "for 30 days" in summary.inner_text()
    shot(page, "journey1", "form-filled")

    page.get_by_role("button", name="Grant access").click()
    page.wait_for_load_state()
    assert "Access granted." in page.locator(".messages").inner_text()
    active = page.locator("section", has=page.get_by_role("heading", name=re.compile("^Active")))
    row = active.locator("tbody tr", has_text="Ada Lovelace")
    assert row.count() == 1
    row_text = row.inner_text()
    end = timezone.localtime(timezone.now() + timedelta(days=30))
    assert end.strftime("%d %b %Y") in row_text, row_text
    assert active.locator(".badge").inner_text().strip() == "1"
    shot(page, "journey1", "granted")

    consent = Consent.objects.get(patient=patient, grantee_user=doc, is_current=True)
    assert consent.actions == ["view"] and consent.purposes == ["TREAT"]
    assert abs((consent.end - consent.start) - timedelta(days=30)) < timedelta(minutes=5)


# --- journey 2 ----------------------------------------------------------------------------------


def test_journey2_clinician_uploads_dicom_and_reads_the_result(new_page, worker):
    from pydicom.data import get_testdata_file

    from imaging.models import Scan
    from ledger import services as ledger_services

    patient, doc, _ = _people()
    _grant(patient, doc, ["upload", "view"])
    page = new_page()
    login_form(page, doc, journey="journey2")  # types the TOTP code on the second-factor page
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, Ada Lovelace"

    page.goto("/scans/upload/")
    page.get_by_role("heading", name="Upload a scan").wait_for()
    page.get_by_label("Patient").select_option(label="Alice Archer")
    page.get_by_label("Scan file").set_input_files(get_testdata_file("CT_small.dcm"))
    shot(page, "journey2", "upload-form")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/scans/[0-9a-f-]{36}/$"))
    assert "Scan uploaded; processing has started." in page.locator(".messages").inner_text()
    assert page.get_by_role("heading", level=1).inner_text() == "Scan of Alice Archer"
    shot(page, "journey2", "progress")
    scan_url = page.url

    # the progress bar follows the pipeline without a reload, up to Done
    seen = set()

    def bar_done():
        seen.add(int(page.locator("#scan-bar").evaluate("b => b.value")))
        return page.locator("#scan-status-badge").inner_text().strip() == "Done"

    wait_for(bar_done, timeout=120, interval=0.25, what="the progress bar to reach Done")
    assert page.locator("#scan-bar").evaluate("b => b.value") == 100
    assert "ok" in page.locator("#scan-status-badge").get_attribute("class")
    page.locator("#diag-label").wait_for()  # the result panel is fetched in place
    shot(page, "journey2", "done")

    # until a signed checkpoint covers the scan's ledger entry the badge says "Partly verified";
    # the beat schedule signs one periodically, here it is signed at once
    scan = Scan.objects.get(patient=patient)
    assert scan.status == "done" and scan.diagnosis_applicable is False  # a CT: not a chest X-ray
    wait_for(_ledger_settled, timeout=60, what="the worker to append the ledger entries")
    ledger_services.append_all()
    ledger_services.create_checkpoint(force=True)

    # open the scan (a fresh load) and read the diagnosis and the integrity badge
    page.goto(scan_url)
    diag = page.locator("section, .card", has=page.get_by_role("heading", name="Diagnosis")).last
    # the applicability gate refused the CT: no pneumonia label, no probability
    assert diag.locator("#diag-label").inner_text() == "Not applicable"
    assert "not applicable: the model is for chest X-rays" in diag.inner_text()
    assert page.locator("#diag-prob").count() == 0
    assert page.locator("#integrity-badge").inner_text() == "Verified"
    integrity_card = page.locator(".card", has=page.get_by_role("heading", name="Integrity"))
    integrity_card.locator("summary", has_text="Technical details").click()
    integrity = integrity_card.inner_text()
    assert "ciphertext SHA-256 matches" in integrity and "Inclusion proof verified" in integrity
    assert page.get_by_alt_text("Preview of the scan").is_visible()
    assert page.get_by_role("img", name="128 by 128 preprocessed image").is_visible()
    assert min(seen) < 100, f"the bar never showed work in progress: {sorted(seen)}"
    shot(page, "journey2", "scan-opened")


# --- journey 3 ----------------------------------------------------------------------------------


def test_journey3_patient_sees_the_access_and_its_receipt_verifies(new_page, live_server, worker):
    from ledger import services as ledger_services
    from ledger.chain import key_from_json
    from ledger.verify_offline import verify_receipt
    from portal.models import AccessEvent
    from tests.factories import make_scan

    patient, doc, _ = _people()
    _grant(patient, doc, ["view"])
    scan, _, _ = make_scan(patient, uploader=doc)

    # the clinician opens the scan
    doc_page = new_page()
    login_cookie(doc_page, doc, live_server.url)
    doc_page.goto(f"/scans/{scan.id}/")
    assert doc_page.get_by_role("heading", level=1).inner_text() == "Scan of Alice Archer"
    event = AccessEvent.objects.get(patient=patient, actor=doc, scan_id=scan.id, action="view")
    assert event.allowed and event.ledger_event_id

    # a checkpoint covers the entry (the worker appends it; a checkpoint is signed here)
    wait_for(_ledger_settled, timeout=60, what="the worker to append the ledger entries")
    ledger_services.append_all()
    ledger_services.create_checkpoint(force=True)

    page = new_page()
    login_form(page, patient, journey="journey3")
    page.get_by_role("link", name="Access history").first.click()
    page.get_by_role("heading", name="Access history", level=1).wait_for()
    events = page.locator("section", has=page.get_by_role("heading", name="Every request on your data"))
    row = events.locator("tbody tr", has_text="Ada Lovelace").filter(has_text="opened your")
    assert row.count() == 1
    assert "Ada Lovelace at St Mary's Hospital" in row.inner_text() and "treatment" in row.inner_text()
    assert "TREAT" not in row.inner_text()
    assert row.locator(".badge").first.inner_text() == "allowed"
    shot(page, "journey3", "access-history")

    # the receipt page says what was verified, and the browser checks the inclusion proof
    row.get_by_role("link", name="receipt").click()
    page.get_by_role("heading", name="Receipt of an access").wait_for()
    check = page.locator("#browser-check")
    check.filter(has_text="verified in your browser").wait_for(timeout=10_000)
    assert "This access is entry" in page.inner_text("main")
    shot(page, "journey3", "receipt")
    href = page.get_by_role("link", name="Download the receipt (JSON)").get_attribute("href")
    assert page.get_by_role("link", name="Back to your access history").is_visible()

    # verify the downloaded receipt offline against the ledger's published keys
    receipt = page.request.get(href, headers={"Accept": "application/json"})
    assert receipt.ok, receipt.text()
    keys = page.request.get("/api/v1/ledger/keys", headers={"Accept": "application/json"}).json()
    keys = keys.get("keys", keys) if isinstance(keys, dict) else keys
    result = verify_receipt(receipt.json(), [key_from_json(k) for k in keys])
    assert result["event_id"] == str(event.ledger_event_id)
    assert result["event_type"] == "scan.accessed"
    assert result["index"] < result["tree_size"]
    (ARTIFACTS / "journey3-receipt.json").write_text(json.dumps(receipt.json(), indent=1))


# --- journey 4 ----------------------------------------------------------------------------------


def test_journey4_patient_revokes_and_the_clinician_is_refused(new_page, live_server, worker):
    from portal.models import AccessEvent, Consent
    from tests.factories import make_scan

    patient, doc, _ = _people()
    _grant(patient, doc, ["view"])
    scan, _, _ = make_scan(patient, uploader=doc)

    doc_page = new_page()
    login_cookie(doc_page, doc, live_server.url)
    resp = doc_page.goto(f"/scans/{scan.id}/")
    assert resp.status == 200
    assert doc_page.get_by_role("heading", level=1).inner_text() == "Scan of Alice Archer"
    shot(doc_page, "journey4", "clinician-before")

    page = new_page()
    login_form(page, patient, journey="journey4")
    page.goto("/consents/")
    row = page.locator("section", has=page.get_by_role("heading", name=re.compile("^Active"))).locator(
        "tbody tr", has_text="Ada Lovelace"
    )
    shot(page, "journey4", "before-revoke")
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.get_by_role("button", name="Revoke access for Ada Lovelace").click()
    page.wait_for_load_state()
    assert dialogs == ["Revoke access for Ada Lovelace? They lose access at once."]
    assert "Revoked. Ada Lovelace can no longer see your scans." in page.locator(".messages").inner_text()
    revoked = page.locator("section", has=page.get_by_role("heading", name=re.compile("^Revoked")))
    assert revoked.locator("tbody tr", has_text="Ada Lovelace").count() == 1
    assert (
        "None."
        in page.locator("section", has=page.get_by_role("heading", name=re.compile("^Active"))).inner_text()
    )
    shot(page, "journey4", "revoked")
    assert not Consent.objects.filter(
        patient=patient, grantee_user=doc, is_current=True, status="active"
    ).exists()

    # the clinician's next attempt is refused: nothing of the scan is shown, the denial is recorded
    resp = doc_page.goto(f"/scans/{scan.id}/")
    shot(doc_page, "journey4", "clinician-refused")
    assert resp.status == 403
    assert "revoked the consent" in doc_page.inner_text("body")
    assert "Alice Archer" not in doc_page.inner_text("body")
    assert doc_page.locator("#scan-progress").count() == 0
    denied = AccessEvent.objects.get(patient=patient, actor=doc, allowed=False)
    assert denied.reason == "consent_revoked"


def test_journey4_refusal_page_says_why(new_page, live_server, worker):
    from portal.consent_services import consent_revoke
    from tests.factories import make_scan

    patient, doc, _ = _people()
    consent = _grant(patient, doc, ["view"])
    scan, _, _ = make_scan(patient, uploader=doc)
    consent_revoke(actor=patient, consent=consent)

    page = new_page()
    login_cookie(page, doc, live_server.url)
    resp = page.goto(f"/scans/{scan.id}/")
    shot(page, "journey4", "refusal-page")
    assert resp.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"
    assert (
        page.get_by_role("alert").inner_text() == "The patient has revoked the consent that gave you access."
    )
    assert page.get_by_role("link", name="Home").is_visible()  # a site page, with its navigation


# --- journey 5 ----------------------------------------------------------------------------------


def test_journey5_breakglass_highlighted_for_patient_and_in_audit_queue(new_page, live_server, worker):
    from portal.models import BreakGlass

    patient, doc, auditor = _people()
    patient.organisation = doc.organisation  # a patient of the hospital: the search finds her
    patient.save(update_fields=["organisation"])
    reason = "Unconscious in A&E, suspected pneumonia, no consent on file"

    doc_page = new_page()
    login_cookie(doc_page, doc, live_server.url)
    doc_page.goto("/patients/")
    assert "No patient has given you consent." in doc_page.inner_text("main")
    doc_page.get_by_role("link", name="Find a patient for emergency access").click()
    doc_page.get_by_label("Name").fill("Alice Archer")
    doc_page.get_by_role("button", name="Search").click()
    doc_page.get_by_role("link", name="Emergency access to Alice Archer").click()
    doc_page.get_by_role("heading", name="Emergency access to Alice Archer").wait_for()
    doc_page.get_by_label("Emergency reason").fill(reason)
    shot(doc_page, "journey5", "clinician-reason")
    doc_page.get_by_role("button", name="Open emergency access").click()
    doc_page.wait_for_load_state()
    assert "Emergency access open until" in doc_page.locator(".messages").inner_text()
    doc_page.goto(f"/scans/patient/{patient.pk}/")
    assert doc_page.url.endswith(f"/scans/patient/{patient.pk}/")
    shot(doc_page, "journey5", "clinician-opened")
    assert BreakGlass.objects.filter(clinician=doc, patient=patient).count() == 1

    # the patient sees it, highlighted
    page = new_page()
    login_form(page, patient, journey="journey5-patient")
    page.goto("/access-history/")
    bg = page.locator("section", has=page.get_by_role("heading", name="Emergency (break-glass) access"))
    bg_row = bg.locator("tbody tr", has_text="Ada Lovelace")
    assert bg_row.count() == 1 and "awaiting audit" in bg_row.inner_text()
    events = page.locator("section", has=page.get_by_role("heading", name="Every request on your data"))
    flagged = events.locator("tbody tr", has=page.locator(".badge", has_text="emergency access"))
    assert flagged.count() >= 1
    assert all("Ada Lovelace" in t for t in flagged.all_inner_texts())
    assert any("emergency treatment" in t for t in flagged.all_inner_texts())  # the opening
    normal_bg = page.evaluate("() => getComputedStyle(document.querySelector('main .card')).backgroundColor")
    for r in [bg_row, flagged.first]:
        assert "breakglass" in r.get_attribute("class")
        colour = r.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour not in (normal_bg, "rgba(0, 0, 0, 0)"), colour
    shot(page, "journey5", "patient-history")

    # the auditor's queue lists it, and the sign-off shows back on the patient's page
    audit = new_page()
    login_form(audit, auditor, journey="journey5-auditor")
    audit.get_by_role("link", name="Break-glass review").first.click()
    audit.get_by_role("heading", name="Break-glass review queue").wait_for()
    pending = audit.locator("section", has=audit.get_by_role("heading", name=re.compile("^Awaiting review")))
    assert pending.locator(".badge").inner_text().strip() == "1"
    q_row = pending.locator("tbody tr", has_text="Ada Lovelace")
    assert "Alice Archer" in q_row.inner_text() and reason in q_row.inner_text()
    assert "breakglass" in q_row.get_attribute("class")
    shot(audit, "journey5", "audit-queue")
    q_row.get_by_label("Justified", exact=True).check()
    q_row.get_by_label("Note").fill("Justified: emergency department admission.")
    q_row.get_by_role("button", name="Sign off").click()
    audit.wait_for_load_state()
    assert "Signed off as justified." in audit.locator(".messages").inner_text()
    assert "Nothing to review." in pending.inner_text()
    shot(audit, "journey5", "audit-signed-off")
    page.reload()
    assert "signed off" in bg.locator("tbody tr", has_text="Ada Lovelace").inner_text()
