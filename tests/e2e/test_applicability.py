"""The applicability gate and the saliency overlay in Chromium (issue 24): a CT, an
ultrasound and a noise image uploaded through the form read "not applicable" on the scan
page; a chest X-ray reads its label and calibrated probability, and the saliency toggle
draws the overlay over the preview. Under the pages' strict CSP (`new_page` fails on any
violation), with the real worker."""

from __future__ import annotations

import re

import pytest

from tests.conftest import wait_for
from tests.e2e.conftest import ARTIFACTS, login_cookie, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _world():
    from portal.consent_services import consent_grant
    from tests.factories import ClinicianFactory, PatientFactory

    patient = PatientFactory(username="gate.patient", first_name="Grace", last_name="Gate")
    doc = ClinicianFactory(username="gate.doc", first_name="Gil", last_name="Gatekeeper")
    consent_grant(patient=patient, grantee_user=doc, actions=["upload", "view"], purposes=["TREAT"])
    return patient, doc


def _upload(page, path: str) -> str:
    page.goto("/scans/upload/")
    page.get_by_label("Patient").select_option(label="Grace Gate")
    page.get_by_label("Scan file").set_input_files(path)
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/scans/[0-9a-f-]{36}/$"))
    wait_for(
        lambda: page.locator("#scan-status-badge").inner_text().strip() == "Done",
        timeout=120,
        interval=0.25,
        what="the scan to be processed",
    )
    page.locator("#diag-label").wait_for()  # the result panel is fetched in place
    return page.url


def test_ct_ultrasound_noise_not_applicable_and_cxr_saliency(new_page, worker, live_server, tmp_path):
    import cv2
    import numpy as np
    from pydicom.data import get_testdata_file

    from tests.imaging.conftest import CXR_FIXTURES

    _patient, doc = _world()
    page = new_page()
    login_cookie(page, doc, live_server.url)

    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), (np.random.default_rng(5).random((256, 256)) * 255).astype(np.uint8))
    for name, path in (
        ("ct", get_testdata_file("CT_small.dcm")),
        ("ultrasound", get_testdata_file("examples_palette.dcm")),
        ("noise", str(noise)),
    ):
        _upload(page, path)
        diag = page.locator(".card", has=page.get_by_role("heading", name="Diagnosis"))
        assert diag.locator("#diag-label").inner_text() == "Not applicable", name
        assert "not applicable: the model is for chest X-rays" in diag.inner_text(), name
        assert page.locator("#diag-prob").count() == 0 and page.locator("#saliency-toggle").count() == 0
        shot(page, "gate", f"{name}-not-applicable")
        page.reload()  # a fresh load says the same
        assert page.locator("#diag-label").inner_text() == "Not applicable"

    _upload(page, str(CXR_FIXTURES / "cxr_val0.png"))
    assert page.locator("#diag-label").inner_text() in ("normal", "pneumonia")
    text = page.locator(".card", has=page.get_by_role("heading", name="Diagnosis")).inner_text()
    assert "probability of pneumonia" in text and "(calibrated)" in text
    overlay = page.locator("#saliency-overlay")
    assert overlay.is_hidden()
    page.get_by_label("Show the saliency map (what drove the prediction)").check()
    overlay.wait_for(state="visible")
    page.wait_for_function(
        "() => { const o = document.getElementById('saliency-overlay'); "
        "return o.complete && o.naturalWidth > 0; }"
    )
    assert overlay.evaluate("o => o.naturalWidth") == 256
    box, preview = overlay.bounding_box(), page.locator("#img-preview").bounding_box()
    assert box and preview and abs(box["width"] - preview["width"]) < 2 and abs(box["y"] - preview["y"]) < 2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot(page, "gate", "cxr-saliency")
    page.get_by_label("Show the saliency map (what drove the prediction)").uncheck()
    assert overlay.is_hidden()
