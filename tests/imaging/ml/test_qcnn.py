import hashlib
import json

import numpy as np
import pytest

from imaging.ml import contract, qcnn
from imaging.ml.api import ARTIFACT_DIR, evaluate, load_model
from imaging.ml.contract import InputError


@pytest.fixture(scope="module")
def qcnn_model():
    return load_model("qcnn")


def _qiskit_state(angles, params):
    from qiskit.quantum_info import Statevector

    qc, x, th = qcnn.build_qiskit_circuit()
    return Statevector(qc.assign_parameters({x: angles, th: params})).data


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_simulation_equals_qiskit_statevector(seed):
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, np.pi, qcnn.N_QUBITS)
    params = rng.uniform(-np.pi, np.pi, qcnn.N_CIRCUIT_PARAMS)
    ref = _qiskit_state(angles, params)
    mine = qcnn.statevector(angles[None], params)[0]
    assert np.abs(ref - mine).max() < 1e-12
    # <Z> of qubit 7: both numpy routes (gate by gate, and via the circuit unitary) equal qiskit
    from qiskit.quantum_info import SparsePauliOp, Statevector

    qc, x, th = qcnn.build_qiskit_circuit()
    z7 = SparsePauliOp("Z" + "I" * 7)  # qiskit labels are little-endian: leftmost = qubit 7
    ez_ref = Statevector(qc.assign_parameters({x: angles, th: params})).expectation_value(z7).real
    assert qcnn.expectation_z(angles[None], params)[0] == pytest.approx(ez_ref, abs=1e-12)
    assert qcnn.expectation_z_gatewise(angles[None], params)[0] == pytest.approx(ez_ref, abs=1e-12)


def test_trained_circuit_equals_qiskit_on_real_images(qcnn_model, val_split):
    angles = qcnn_model.angles_grid(contract.medmnist_to_model_grid(val_split.images[:3]))
    for a in angles:
        ref = _qiskit_state(a, qcnn_model.params)
        assert np.abs(qcnn.statevector(a[None], qcnn_model.params)[0] - ref).max() < 1e-12


def test_circuit_facts_match_card():
    card = json.loads((ARTIFACT_DIR / "qcnn.json").read_text())
    qc, x, th = qcnn.build_qiskit_circuit()
    assert qc.num_qubits == card["quantum"]["qubits"] == 8
    assert len(th) == card["quantum"]["trainable_circuit_parameters"] == 24
    assert qc.depth(lambda i: i.operation.name != "barrier") == card["quantum"]["circuit_depth"]


def test_artifact_hash_and_size():
    card = json.loads((ARTIFACT_DIR / "qcnn.json").read_text())
    data = (ARTIFACT_DIR / "qcnn.npz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == card["sha256"]
    assert len(data) < 5 * 1024 * 1024


def test_validation_reproduces_model_card(qcnn_model, val_split):
    card = json.loads((ARTIFACT_DIR / "qcnn.json").read_text())
    got = evaluate(qcnn_model, val_split.images, val_split.labels)
    assert got["model_id"] == card["model_id"] and got["n"] == 524
    for k in ("auc", "acc", "sensitivity", "specificity"):
        assert got[k] == pytest.approx(card["validation"][k], abs=1e-9), k


def test_predict_and_bad_input(qcnn_model, val_split):
    img = contract.pipeline_preprocess(val_split.images[0])
    label, p = qcnn_model.predict(img)
    assert label in ("normal", "pneumonia") and 0 <= p <= 1
    assert qcnn_model.predict_batch(img[None])[0][0] == label
    with pytest.raises(InputError):
        qcnn_model.predict(img * 255)


def test_smoke_training_is_seeded(val_split):
    """Tiny fit (60 images, 30 COBYLA steps): same seed → identical parameters."""
    imgs, labels = val_split.images[:60], val_split.labels[:60]
    a1, _ = qcnn.train_qcnn(imgs, labels, imgs, labels, seed=3, restarts=1, maxiter=30, log=lambda m: None)
    a2, _ = qcnn.train_qcnn(imgs, labels, imgs, labels, seed=3, restarts=1, maxiter=30, log=lambda m: None)
    assert np.array_equal(a1["circuit_params"], a2["circuit_params"])
