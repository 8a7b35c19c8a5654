"""CNN pneumonia classifier, inference on ONNX Runtime (no PyTorch in the worker).

The artifact ``cnn.npz`` holds the ONNX graph bytes (``onnx``, uint8), the linear head
(``head_w``, ``head_b``) and the calibration temperature; its SHA-256 is checked against the
card like every other model's (``artifacts.read_artifact``). The graph has two outputs: the
logit and the last feature map (64 × 7 × 7). Because the head is global average pooling +
one linear unit, the class activation map ``Σ_c w_c · F_c`` is exactly Grad-CAM; it is
computed here in numpy and upsampled to the pipeline's 128 × 128.

Training: :mod:`.cnn_train` (PyTorch, ``make train``).
"""

from __future__ import annotations

import cv2
import numpy as np

from . import contract
from .calibration import apply_temperature

NAME = "cnn"
VERSION = "1.0.0"
MODEL_ID = f"pneumonia-cnn-resnet3-{VERSION}"
DEFAULT_SEED = 20240611


def _session(onnx_bytes: bytes, threads: int = 1):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


class CNNModel:
    kind = NAME

    def __init__(self, arrays: dict, card: dict, sha256: str, threads: int = 1):
        self.card = card
        self.sha256 = sha256
        self.model_id = card["model_id"]
        self.version = card["version"]
        self.threshold = float(card["threshold"])
        self._sess = _session(np.asarray(arrays["onnx"], dtype=np.uint8).tobytes(), threads)
        self._head_w = np.asarray(arrays["head_w"], dtype=np.float32)  # (C,)
        self._head_b = float(arrays["head_b"])
        self.temperature = float(arrays["temperature"])
        self._last: tuple | None = None  # (input, logit, feature map) of the last single image

    # -- raw outputs ------------------------------------------------------------
    def run_grid(self, grid28: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 28, 28) float32 → (logits (n,), feature maps (n, C, 7, 7))."""
        x = np.ascontiguousarray(np.asarray(grid28, dtype=np.float32)[:, None])
        if x.shape[0] == 0:
            return np.empty(0), np.empty((0, self._head_w.size, 7, 7), dtype=np.float32)
        last = self._last
        if x.shape[0] == 1 and last is not None and np.array_equal(last[0], x):
            return last[1].copy(), last[2].copy()  # the same single image again (predict, then saliency)
        logit, fmap = self._sess.run(None, {"image": x})
        logit = logit.astype(np.float64)
        if x.shape[0] == 1:
            self._last = (x.copy(), logit.copy(), fmap.copy())  # one tuple: replaced atomically
        return logit, fmap

    def logit_grid(self, grid28: np.ndarray) -> np.ndarray:
        return self.run_grid(grid28)[0]

    def proba_grid(self, grid28: np.ndarray) -> np.ndarray:
        """Calibrated P(pneumonia) (temperature scaling)."""
        return apply_temperature(self.logit_grid(grid28), self.temperature)

    # -- public API (pipeline images) -----------------------------------------
    def predict_proba_batch(self, images) -> np.ndarray:
        return self.proba_grid(contract.images_to_model_grid(images))

    def predict_batch(self, images) -> list[tuple[str, float]]:
        p = self.predict_proba_batch(images)
        return [("pneumonia" if q >= self.threshold else "normal", float(q)) for q in p]

    def predict(self, image128) -> tuple[str, float]:
        grid = contract.to_model_grid(contract.check_image(image128))[None]
        q = float(self.proba_grid(grid)[0])
        return ("pneumonia" if q >= self.threshold else "normal", q)

    # -- saliency ---------------------------------------------------------------
    def cam_grid(self, grid28: np.ndarray) -> np.ndarray:
        """Class activation maps for the pneumonia logit: (n, 7, 7), un-normalised."""
        _, fmap = self.run_grid(grid28)
        return np.einsum("c,nchw->nhw", self._head_w, fmap)

    def saliency(self, image128) -> np.ndarray:
        """CAM (= Grad-CAM for this head) of one pipeline image: float32 (128, 128) in [0, 1].

        Only positive evidence for pneumonia is shown (ReLU), scaled by its maximum; an image
        with no positive evidence gives an all-zero map.
        """
        grid = contract.to_model_grid(contract.check_image(image128))[None]
        return cam_to_saliency(self.cam_grid(grid)[0])


def cam_to_saliency(cam: np.ndarray, size: int = contract.PIPELINE_SIZE) -> np.ndarray:
    cam = np.maximum(np.asarray(cam, dtype=np.float32), 0.0)
    up = cv2.resize(cam, (size, size), interpolation=cv2.INTER_LINEAR)
    top = float(up.max())
    if top <= 0 or not np.isfinite(top):
        return np.zeros((size, size), dtype=np.float32)
    return np.clip(up / top, 0.0, 1.0).astype(np.float32)
