"""Saliency maps (imaging.ml.saliency): the model's own CAM when it has one, else occlusion."""

import cv2
import numpy as np
import pytest

from imaging.ml import saliency


class RegionModel:
    """P(pneumonia) rises with the brightness of one 6 x 6 region of the 28 x 28 grid only."""

    threshold = 0.5

    def proba_grid(self, grid):
        g = np.asarray(grid)
        return 1 / (1 + np.exp(-20 * (g[:, 4:10, 16:22].mean((1, 2)) - 0.3)))


def test_occlusion_finds_the_region_that_drives_the_prediction():
    img = np.full((128, 128), 0.2, np.float32)
    img[18:46, 73:100] = 0.9  # the region (4:10, 16:22 on the 28 grid) is bright: "pneumonia"
    heat = saliency.saliency_map(RegionModel(), img)
    assert heat.shape == (128, 128) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    r, c = np.unravel_index(int(heat.argmax()), heat.shape)
    assert 10 <= r <= 50 and 65 <= c <= 105  # inside the region (upsampled), not elsewhere
    assert heat[100:, :40].max() < 0.05  # far away: nothing


def test_the_models_own_saliency_is_used():
    class CAM:
        def saliency(self, image):
            out = np.zeros((128, 128), np.float32)
            out[0, 0] = 2.0
            return out

        def proba_grid(self, grid):  # pragma: no cover - must not be called
            raise AssertionError("occlusion ran although the model has saliency()")

    heat = saliency.saliency_map(CAM(), np.zeros((128, 128), np.float32))
    assert heat[0, 0] == 1.0 and heat.sum() == 1.0


def test_classical_model_occlusion_in_one_batch(classical_model_cached):
    calls = []
    model = classical_model_cached

    class Spy:
        threshold = model.threshold

        def proba_grid(self, grid):
            calls.append(grid.shape)
            return model.proba_grid(grid)

    img = np.random.default_rng(0).random((128, 128)).astype(np.float32)
    heat = saliency.saliency_map(Spy(), img)
    assert calls == [(65, 28, 28)]  # the image and its 64 occluded copies, scored in one batch
    assert 0 <= heat.min() and heat.max() <= 1


def test_png_round_trip_and_overlay():
    heat = np.linspace(0, 1, 128 * 128, dtype=np.float32).reshape(128, 128)
    back = saliency.heat_from_png(saliency.heat_png(heat))
    assert np.abs(back - heat).max() <= 1 / 255 + 1e-6
    over = cv2.imdecode(
        np.frombuffer(saliency.overlay_png(heat, size=(256, 200)), np.uint8), cv2.IMREAD_UNCHANGED
    )
    assert over.shape == (200, 256, 4)
    assert over[0, 0, 3] == 0 and over[-1, -1, 3] > 100  # transparent where the map is low
    with pytest.raises(ValueError):
        saliency.heat_from_png(b"not a png")


@pytest.fixture(scope="module")
def classical_model_cached():
    from imaging.ml.api import load_model

    return load_model("classical")
