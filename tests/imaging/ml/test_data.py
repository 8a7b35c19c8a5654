import numpy as np
import pytest

from imaging.ml.data import DatasetError, available_splits, load_split

from .conftest import write_npz


def _ok(n=6):
    rng = np.random.default_rng(0)
    return {
        "val_images": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        "val_labels": (np.arange(n) % 2).astype(np.uint8).reshape(n, 1),
    }


def test_loads_valid_file(tmp_path):
    p = write_npz(tmp_path / "ok.npz", **_ok())
    s = load_split(p, "val")
    assert s.images.shape == (6, 28, 28) and s.images.dtype == np.uint8
    assert s.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert available_splits(p) == ["val"]


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        load_split(tmp_path / "nope.npz", "val")


def test_not_an_npz(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"this is not a zip archive")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_split(p, "val")


def test_missing_keys_named(tmp_path):
    p = write_npz(tmp_path / "m.npz", **_ok())
    with pytest.raises(
        DatasetError, match=r"missing key\(s\) test_images, test_labels.*splits present: \['val'\]"
    ):
        load_split(p, "test")
    arrays = _ok()
    del arrays["val_labels"]
    p2 = write_npz(tmp_path / "m2.npz", **arrays)
    with pytest.raises(DatasetError, match="missing key.*val_labels"):
        load_split(p2, "val")


@pytest.mark.parametrize(
    "images, msg",
    [
        (np.zeros((6, 28), np.uint8), r"val_images has shape \(6, 28\)"),
        (np.zeros((6, 28, 28, 3), np.uint8), r"val_images has shape \(6, 28, 28, 3\)"),
        (np.zeros((6, 4, 4), np.uint8), "4x4"),
        (np.zeros((0, 28, 28), np.uint8), "empty"),
        (np.full((6, 28, 28), 3.0), r"not finite values in \[0, 1\]"),
        (np.zeros((6, 28, 28), np.int32), "dtype int32"),
    ],
)
def test_wrong_image_shapes_and_dtypes(tmp_path, images, msg):
    arrays = _ok()
    arrays["val_images"] = images
    p = write_npz(tmp_path / "s.npz", **arrays)
    with pytest.raises(DatasetError, match=msg):
        load_split(p, "val")


def test_channel_last_singleton_ok(tmp_path):
    arrays = _ok()
    arrays["val_images"] = arrays["val_images"][..., None]
    assert load_split(write_npz(tmp_path / "c.npz", **arrays), "val").images.shape == (6, 28, 28)


@pytest.mark.parametrize(
    "labels, msg",
    [
        (np.array([0, 1, 2, 0, 1, 0]), r"not binary: found values \[0, 1, 2\]"),
        (np.array([0, 1, 0]), "has 6 images but val_labels has 3"),
        (np.zeros((6, 2), np.uint8), r"val_labels has shape \(6, 2\)"),
        (np.array([0.0, 0.5, 1, 1, 0, 0]), "dtype float64"),
    ],
)
def test_bad_labels(tmp_path, labels, msg):
    arrays = _ok()
    arrays["val_labels"] = labels
    with pytest.raises(DatasetError, match=msg):
        load_split(write_npz(tmp_path / "l.npz", **arrays), "val")


def test_real_file_shapes(data_path):
    tr = load_split(data_path, "train")
    va = load_split(data_path, "val")
    assert tr.images.shape == (3882, 28, 28) and va.images.shape == (524, 28, 28)
    assert set(np.unique(tr.labels)) == {0, 1}
    assert (tr.labels == 0).mean() < 0.15  # the reduced train split is ~10% normal
