"""``python manage.py diagnose predict FILE --json``: the upload's decode, the pipeline's
preprocess, the applicability gate and the active model, for DICOM, PNG and JPEG files."""

import io
import json

import cv2
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from imaging.ml.applicability import NOT_APPLICABLE
from tests.imaging.conftest import CXR_FIXTURES, dicom_bytes

pytestmark = pytest.mark.django_db


def predict(path) -> dict:
    out = io.StringIO()
    call_command("diagnose", "predict", str(path), "--json", stdout=out)
    return json.loads(out.getvalue())


def test_ct_is_not_applicable(tmp_path):
    from imaging.diagnosis import active_model

    path = tmp_path / "ct.dcm"
    path.write_bytes(dicom_bytes("CT_small.dcm"))
    got = predict(path)
    assert set(got) == {"applicable", "reason", "label", "probability", "model_id"}
    assert got["applicable"] is False and got["label"] is None and got["probability"] is None
    assert got["reason"].startswith(NOT_APPLICABLE) and "modality CT" in got["reason"]
    assert got["model_id"] == active_model()[0].model_id


def test_chest_xray_png_and_jpeg_are_diagnosed_like_the_pipeline(tmp_path):
    from imaging import diagnosis, preprocess
    from imaging.decode import decode

    png = CXR_FIXTURES / "cxr_val0.png"
    got = predict(png)
    assert got["applicable"] is True and got["reason"] == ""
    assert got["label"] in ("normal", "pneumonia") and 0 <= got["probability"] <= 1
    # the very number the pipeline's diagnose stage stores for these bytes
    matrix = preprocess.preprocess(decode(png.read_bytes(), "png").display)
    assert got["probability"] == diagnosis.diagnose(matrix).probability

    img = cv2.imdecode(np.frombuffer(png.read_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
    big = cv2.resize(img, (256, 256), interpolation=cv2.INTER_CUBIC)
    jpg = tmp_path / "cxr.jpg"
    cv2.imwrite(str(jpg), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert predict(jpg)["applicable"] is True


def test_noise_png_is_not_applicable(tmp_path):
    path = tmp_path / "noise.png"
    cv2.imwrite(str(path), (np.random.default_rng(9).random((200, 300)) * 255).astype(np.uint8))
    got = predict(path)
    assert got["applicable"] is False and "does not look like the chest X-rays" in got["reason"]


@pytest.mark.parametrize("content", [b"", b"hello, not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_bad_files_give_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(CommandError) as exc:
        call_command("diagnose", "predict", str(path), "--json", stdout=io.StringIO())
    assert str(path) in str(exc.value) and "Traceback" not in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read the file"):
        call_command("diagnose", "predict", str(tmp_path / "absent.dcm"), stdout=io.StringIO())
