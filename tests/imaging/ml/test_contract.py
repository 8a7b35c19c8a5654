import cv2
import numpy as np
import pytest

from imaging.ml import contract
from imaging.ml.contract import InputError


def _image128(seed=0):
    img = np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)
    return contract.pipeline_preprocess(img)


def test_pipeline_output_contract():
    x = _image128()
    assert x.shape == (128, 128) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_batch_downsampling_equals_cv2_inter_area():
    xs = np.stack([_image128(s) for s in range(5)])
    fast = contract.images_to_model_grid(xs)
    ref = np.stack([cv2.resize(x, (28, 28), interpolation=cv2.INTER_AREA) for x in xs])
    assert np.abs(fast - ref).max() < 1e-5
    # float64 input and list input take other code paths but give the same grid
    assert np.abs(contract.images_to_model_grid(xs.astype(np.float64)) - ref).max() < 1e-5
    assert np.abs(contract.images_to_model_grid(list(xs)) - ref).max() < 1e-5


def test_medmnist_route_is_close_to_identity(val_split):
    grid = contract.medmnist_to_model_grid(val_split.images[:50])
    diff = np.abs(grid * 255.0 - val_split.images[:50].astype(np.float32))
    assert diff.mean() < 2.0  # 28→128→28 changes pixels by < 1 grey level on average


def test_uint8_and_uint16_scaled_by_range():
    x = _image128()
    u8 = np.rint(x * 255).astype(np.uint8)
    u16 = u8.astype(np.uint16) * 257
    a = contract.check_image(u8)
    b = contract.check_image(u16)
    assert a.dtype == np.float32 and np.abs(a - b).max() < 1e-6
    assert np.abs(a - x).max() <= 0.5 / 255 + 1e-6


def test_other_sizes_resized_with_inter_area():
    x = _image128()
    big = cv2.resize(x, (256, 256), interpolation=cv2.INTER_NEAREST)
    out = contract.check_image(big)
    assert out.shape == (128, 128)
    assert np.abs(out - x).max() < 1e-5  # 2× nearest up then area down is exact


def test_colour_converted_to_gray():
    x = np.rint(_image128() * 255).astype(np.uint8)
    bgr = cv2.cvtColor(x, cv2.COLOR_GRAY2BGR)
    assert np.abs(contract.check_image(bgr) - contract.check_image(x)).max() < 1e-6


@pytest.mark.parametrize(
    "bad, msg",
    [
        (np.full((128, 128), np.nan, np.float32), "NaN"),
        (np.full((128, 128), 200.0, np.float32), r"expected the pipeline's normalised range \[0, 1\]"),
        (np.full((128, 128), -0.5), r"\[0, 1\]"),
        (np.zeros((128, 128), bool), "dtype bool"),
        (np.zeros((128, 128), np.complex64), "complex64"),
        (np.zeros((128,), np.float32), r"shape \(128,\)"),
        (np.zeros((2, 128, 128), np.float32), r"shape \(2, 128, 128\)"),
        (np.zeros((4, 4), np.float32), "too small"),
        (np.zeros((128, 128), np.int64), "ambiguous"),
    ],
)
def test_bad_inputs_refused(bad, msg):
    with pytest.raises(InputError, match=msg):
        contract.check_image(bad)


def test_bad_batch_refused():
    xs = np.stack([_image128(s) for s in range(3)]) * 255.0
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        contract.images_to_model_grid(xs)
