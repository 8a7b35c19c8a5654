"""Pneumonia diagnosis models (pure package, no Django imports).

* :mod:`.contract` — the 128×128 [0, 1] input contract and the one 128→28 route.
* :mod:`.data` — MedMNIST ``.npz`` loading with :class:`DatasetError`.
* :mod:`.classical` — HOG + pixels → PCA → RBF SVM (scikit-learn training, numpy inference).
* :mod:`.qcnn` — 8-qubit quantum convolutional network, exact statevector simulation.
* :mod:`.api` — ``load_model``, ``predict``, ``predict_batch``, ``evaluate``, ``train_and_save``.
"""

from .contract import InputError
from .data import DatasetError


def predict(image128, kind: str = "classical"):
    from .api import predict as _predict

    return _predict(image128, kind)


def predict_batch(images, kind: str = "classical"):
    from .api import predict_batch as _pb

    return _pb(images, kind)


def load_model(kind: str):
    from .api import load_model as _lm

    return _lm(kind)


def evaluate(model, images, labels):
    from .api import evaluate as _ev

    return _ev(model, images, labels)


__all__ = ["DatasetError", "InputError", "evaluate", "load_model", "predict", "predict_batch"]
