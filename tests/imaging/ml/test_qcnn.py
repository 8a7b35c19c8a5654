import hashlib
import json
import shutil

import numpy as np
import pytest

from imaging.ml import contract, qcnn
from imaging.ml.api import ARTIFACT_DIR, evaluate, load_model
from imaging.ml.artifacts import read_artifact
from imaging.ml.contract import InputError


@pytest.fixture(scope="module")
def qcnn_model():
    return load_model("qcnn")


@pytest.fixture(scope="module")
def card():
    return json.loads((ARTIFACT_DIR / "qcnn.json").read_text())


def _random_case(seed, n_layers, d, n=1):
    rng = np.random.default_rng(seed)
    circ = qcnn.Circuit(n_layers, d)
    x = rng.normal(size=(n, d))
    theta = rng.uniform(-np.pi, np.pi, circ.n_circ)
    return circ, x, theta


def _qiskit_state(x, theta, n_layers, d):
    from qiskit.quantum_info import Statevector

    return Statevector(qcnn.build_qiskit_circuit(x, theta, n_layers, d)).data


# --- the simulation is exact ------------------------------------------------------------------
@pytest.mark.parametrize("seed,n_layers,d", [(0, 1, 8), (1, 2, 16), (2, 3, 16)])
def test_numpy_simulation_equals_qiskit_statevector(seed, n_layers, d):
    from qiskit.quantum_info import SparsePauliOp, Statevector

    circ, x, theta = _random_case(seed, n_layers, d)
    ref = _qiskit_state(x[0], theta, n_layers, d)
    assert np.abs(ref.imag).max() < 1e-12  # RY, CX, CRY, X keep the amplitudes real
    gatewise = qcnn.statevector(x, theta, circ.ops)[0]
    fast = circ.forward(x, theta)[0]
    assert np.abs(ref - gatewise).max() < 1e-12
    assert np.abs(ref - fast).max() < 1e-12
    # readout: <Z_q> of the numpy simulator equals qiskit's expectation value
    qc = qcnn.build_qiskit_circuit(x[0], theta, n_layers, d)
    for j, q in enumerate(circ.readout):
        label = "".join("Z" if k == q else "I" for k in range(qcnn.N_QUBITS - 1, -1, -1))
        ez = Statevector(qc).expectation_value(SparsePauliOp(label)).real
        assert circ.expectations(x, theta)[0, j] == pytest.approx(ez, abs=1e-12)


def test_norm_is_preserved():
    circ, x, theta = _random_case(5, 3, 16, n=50)
    for psi in (circ.forward(x, theta), qcnn.statevector(x, theta, circ.ops)):
        assert np.abs((psi * psi).sum(axis=1) - 1.0).max() < 1e-12
    for seg_kind, seg in circ.segs:
        if seg_kind == "fixed":
            u = qcnn.fixed_unitary(seg, theta)
            assert np.abs(u.T @ u - np.eye(qcnn.DIM)).max() < 1e-12


def test_known_circuits_analytic_expectations():
    # product encoding: <Z_q> of RY(t_q)|0> is cos(t_q)
    rng = np.random.default_rng(7)
    t = rng.uniform(-np.pi, np.pi, (4, qcnn.N_QUBITS))
    psi = qcnn._product_state(np.cos(t / 2), np.sin(t / 2))
    got = (psi * psi) @ qcnn.z_signs(range(qcnn.N_QUBITS)).T
    assert np.allclose(got, np.cos(t), atol=1e-14)
    # pool block: source RY(a)|0>, sink |0>  ->  <Z_sink> = cos²(a/2) cos(q1) + sin²(a/2) cos(q0)
    a, q0, q1 = 1.1, 0.7, -2.3
    state = qcnn.zero_state(1)
    state = qcnn._apply_ry(state, 0, np.array([a]))
    state = qcnn._apply2(state, 0, 1, qcnn.pool_matrix(np.array([q0, q1])))
    flat = state.reshape(1, -1)
    ez = float(((flat * flat) @ qcnn.z_signs((1,)).T)[0, 0])
    assert ez == pytest.approx(np.cos(a / 2) ** 2 * np.cos(q1) + np.sin(a / 2) ** 2 * np.cos(q0), abs=1e-14)
    # conv block with p0 = pi/2, rest 0 on |00>: RY(pi/2)|0>|0> -> CX(a->b) -> Bell -> CX(b->a):
    # (|00> + |11>)/√2 -> (|00> + |01>)/√2 in (a, b): <Z_a> = +1, <Z_b> = 0
    m = qcnn.conv_matrix(np.array([np.pi / 2, 0, 0, 0, 0, 0]))
    st = qcnn._apply2(qcnn.zero_state(1), 2, 5, m).reshape(1, -1)
    z = ((st * st) @ qcnn.z_signs((2, 5)).T)[0]
    assert z == pytest.approx([1.0, 0.0], abs=1e-14)


def test_adjoint_gradient_equals_finite_differences():
    circ, x, theta = _random_case(11, 2, 16, n=12)
    rng = np.random.default_rng(3)
    y = (rng.random(12) > 0.4).astype(float)
    wts = qcnn.balanced_weights(y)
    p = np.concatenate([theta, rng.normal(size=len(circ.readout)), [0.2]])
    loss, grad = circ.loss_and_grad(p, x, y, wts)
    ref_loss, ref_grad = qcnn.loss_and_grad(p, x, y, wts, circ.ops, circ.n_circ)  # gate-by-gate adjoint
    assert loss == pytest.approx(ref_loss, abs=1e-12)
    assert np.abs(grad - ref_grad).max() < 1e-10
    eps = 1e-6
    for k in rng.choice(p.size, 25, replace=False):
        e = np.zeros_like(p)
        e[k] = eps
        fd = (circ.loss_and_grad(p + e, x, y, wts)[0] - circ.loss_and_grad(p - e, x, y, wts)[0]) / (2 * eps)
        assert grad[k] == pytest.approx(fd, abs=1e-7), k


# --- the released model -----------------------------------------------------------------------
def test_trained_circuit_equals_qiskit_on_real_images(qcnn_model, val_split):
    c = qcnn_model.circuit
    x = qcnn_model.inputs_grid(contract.medmnist_to_model_grid(val_split.images[:3]))
    theta = qcnn_model.params[: c.n_circ]
    for xi in x:
        ref = _qiskit_state(xi, theta, c.n_layers, c.n_inputs)
        assert np.abs(c.forward(xi[None], theta)[0] - ref).max() < 1e-12


def test_circuit_facts_match_card(qcnn_model, card):
    c = qcnn_model.circuit
    qc = qcnn.build_qiskit_circuit(
        np.zeros(c.n_inputs), qcnn_model.params[: c.n_circ], c.n_layers, c.n_inputs
    )
    assert qc.num_qubits == card["quantum"]["qubits"] == 8
    assert c.n_circ == card["quantum"]["trainable_circuit_parameters"] == qcnn.n_circuit_params(c.n_layers)
    assert qc.depth() == card["quantum"]["circuit_depth"]
    assert card["model_id"] == qcnn.MODEL_ID and card["version"] == qcnn.VERSION
    assert card["cv"]["chosen"] == {"layers": c.n_layers, "inputs": c.n_inputs}


def test_card_compares_with_a_same_size_classical_model(card):
    q = next(
        r
        for r in card["cv"]["comparison_same_inputs_and_size"]
        if r["model"].startswith("QCNN v" + qcnn.VERSION)
    )
    mlp = next(r for r in card["cv"]["comparison_same_inputs_and_size"] if "MLP" in r["model"])
    assert mlp["inputs"] == q["inputs"]
    assert abs(mlp["trainable_parameters"] - q["trainable_parameters"]) <= q["inputs"] + 2
    for r in card["cv"]["comparison_same_inputs_and_size"]:
        assert 0.5 < r["cv_auc_mean"] <= 1 and 0 <= r["cv_auc_sd"] < 0.1


def test_artifact_hash_and_size(card):
    data = (ARTIFACT_DIR / "qcnn.npz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == card["sha256"]
    assert len(data) < 5 * 1024 * 1024


def test_tampered_artifact_is_refused(tmp_path):
    shutil.copy(ARTIFACT_DIR / "qcnn.json", tmp_path / "qcnn.json")
    data = bytearray((ARTIFACT_DIR / "qcnn.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "qcnn.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        read_artifact("qcnn", tmp_path)


def test_validation_reproduces_model_card(qcnn_model, card, val_split):
    got = evaluate(qcnn_model, val_split.images, val_split.labels)
    assert got["model_id"] == card["model_id"] and got["n"] == 524
    for k in ("auc", "acc", "sensitivity", "specificity"):
        assert got[k] == pytest.approx(card["validation"][k], abs=1e-9), k


def test_predictions_are_deterministic(qcnn_model, val_split):
    grid = contract.medmnist_to_model_grid(val_split.images[:40])
    again = load_model("qcnn")
    p1, p2 = qcnn_model.proba_grid(grid), again.proba_grid(grid)
    assert np.array_equal(p1, p2)
    # one image at a time gives the same numbers as the batch
    single = np.array([qcnn_model.proba_grid(g[None])[0] for g in grid[:5]])
    assert np.allclose(single, p1[:5], rtol=0, atol=1e-12)
    # the fast path (cached unitaries) equals the gate-by-gate simulation of the same circuit
    c = qcnn_model.circuit
    x = qcnn_model.inputs_grid(grid)
    e = qcnn.expectations(x, qcnn_model.params[: c.n_circ], c.ops, c.readout)
    logit = e @ qcnn_model.params[c.n_circ : -1] + qcnn_model.params[-1]
    a, b = qcnn_model.platt
    assert np.allclose(p1, 1 / (1 + np.exp(-(a * logit + b))), atol=1e-12)


def test_beats_chance_on_held_out_slice(qcnn_model, val_split):
    """Validation images were never used to fit the released weights (train only)."""
    from scipy.stats import mannwhitneyu
    from sklearn.metrics import roc_auc_score

    imgs, y = val_split.images[:262], val_split.labels[:262]
    p = qcnn_model.proba_grid(contract.medmnist_to_model_grid(imgs))
    assert roc_auc_score(y, p) > 0.9
    assert mannwhitneyu(p[y == 1], p[y == 0], alternative="greater").pvalue < 1e-10
    # a shuffled labelling of the same scores is not separated: the score carries the signal
    perm = np.random.default_rng(0).permutation(y)
    assert abs(roc_auc_score(perm, p) - 0.5) < 0.15


def test_predict_and_bad_input(qcnn_model, val_split):
    img = contract.pipeline_preprocess(val_split.images[0])
    label, p = qcnn_model.predict(img)
    assert label in ("normal", "pneumonia") and 0 <= p <= 1
    assert qcnn_model.predict_batch(img[None])[0] == (
        label,
        pytest.approx(p, abs=1e-6),  # batch route: area matrix, equal to cv2 to 1e-6
    )
    with pytest.raises(InputError):
        qcnn_model.predict(img * 255)


def test_smoke_training_is_seeded(val_split):
    """Tiny fit (100 images, 2 folds, 5 L-BFGS steps): same seed → identical arrays."""
    imgs, labels = val_split.images[:100], val_split.labels[:100]
    kw = {"grid": ((1, 8),), "folds": 2, "maxiter": 5, "log": lambda m: None}
    a1, i1 = qcnn.train_qcnn(imgs[:60], labels[:60], imgs[60:], labels[60:], seed=3, **kw)
    a2, _ = qcnn.train_qcnn(imgs[:60], labels[:60], imgs[60:], labels[60:], seed=3, **kw)
    a3, _ = qcnn.train_qcnn(imgs[:60], labels[:60], imgs[60:], labels[60:], seed=4, **kw)
    assert set(a1) == {"arch", "proj_w", "proj_b", "circuit_params", "head", "platt"}
    assert all(np.array_equal(a1[k], a2[k]) for k in a1)
    assert not np.array_equal(a1["circuit_params"], a3["circuit_params"])
    assert i1["cv"]["chosen"] == {"layers": 1, "inputs": 8}
