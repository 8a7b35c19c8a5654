import os
from pathlib import Path

import numpy as np
import pytest

DATA = Path(os.environ.get("PNEUMONIAMNIST_NPZ", "/work/shared/data/pneumoniamnist_trainval.npz"))


@pytest.fixture(scope="session")
def data_path() -> Path:
    if not DATA.exists():
        pytest.skip(f"PneumoniaMNIST file {DATA} is absent (set PNEUMONIAMNIST_NPZ to its path)")
    return DATA


@pytest.fixture(scope="session")
def val_split(data_path):
    from imaging.ml.data import load_split

    return load_split(data_path, "val")


@pytest.fixture(scope="session")
def classical_model():
    from imaging.ml.api import load_model

    return load_model("classical")


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path
