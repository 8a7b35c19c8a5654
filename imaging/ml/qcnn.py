"""Hybrid quantum convolutional network (QCNN) with data re-uploading, for pneumonia vs normal.

What is classical and what is quantum
-------------------------------------
* **Classical reduction** (fitted on the training images only): the 2,080 features of
  :mod:`.features` (per-image standardised pixels + HOG) → StandardScaler → PCA to ``d``
  components → each component divided by its training standard deviation and clipped to
  [-4, 4] (so ``x_j`` is in "standard deviations"; no information is squeezed into a
  sliver of the angle range as in v1, where ±1 sd covered only ±30°).
* **Quantum circuit** (8 qubits, exact real statevector, no shots), starting from |0…0⟩:
  - ``L`` **re-uploading layers**; layer ``l`` applies ``RY(a_{l,i} · x_{f(l,i)} + b_{l,i})`` on
    every qubit ``i`` (trainable per-qubit scale and offset: the encoding learns its own
    angle range) with ``f(l, i) = (8 l + i) mod d`` (with d = 16 the layers alternate
    between the first and the second 8 components), followed by a *convolution* layer: the
    same parameterised two-qubit block (6 angles, shared across the layer) on ring
    neighbours, even pairs then odd pairs:
    ``RY(p0)⊗RY(p1) · CX(a→b) · RY(p2)⊗RY(p3) · CX(b→a) · RY(p4)⊗RY(p5)``;
  - **QCNN tail**: *pooling* 8 → 4 (per (source s, sink k): ``CRY(q0)`` controlled by s on
    k, then ``X(s) · CRY(q1) · X(s)``; s is not touched again), convolution on the 4
    remaining qubits, pooling 4 → 2, convolution, pooling 2 → 1;
  - **readout**: exact ⟨Z⟩ of the qubits in ``READOUT``: qubit 7 (the last survivor) and
    qubit 3 (the source of the last pooling).
* **Classical head** (trained with the circuit): ``logit = Σ_j w_j ⟨Z_{r_j}⟩ + c``, then
  Platt scaling fitted on out-of-fold cross-validation logits:
  ``P(pneumonia) = sigmoid(A · logit + B)``.

Simulation: a vectorised numpy statevector simulator on a batch (n, 2, …, 2). RY, CX and CRY
keep the amplitudes real, so the state is real.  Every gate is applied exactly: single-qubit
rotations per image, two-qubit blocks as their 4×4 matrices.  For speed the data-free
segments (each convolution layer, and the tail) are turned into their 256×256 orthogonal
matrices by running their gates on the 256 basis states, so a batch costs a few matrix
products (a released model builds them once; about 1 ms per image).  The gate-by-gate
route (:func:`statevector`) is kept as the reference.  :func:`build_qiskit_circuit`
builds the same circuit gate by gate as a ``qiskit.QuantumCircuit``; the tests check that
the amplitudes equal ``qiskit.quantum_info.Statevector``.

Training: exact gradients by the adjoint method (one backward sweep that un-applies each
gate, the statevector analogue of back-propagation; checked against finite differences in
the tests), class-balanced binary cross-entropy, L-BFGS (scipy), seeded initialisation.
Hyper-parameters (number of PCA inputs ``d``, number of layers ``L``) are chosen by
stratified 5-fold cross-validation on train + validation; the released circuit is fitted on
train only, so the validation metrics on the card are on images the weights never saw.
"""

from __future__ import annotations

import time

import numpy as np

from . import contract
from .features import features
from .metrics import balanced_threshold

NAME = "qcnn"
VERSION = "2.0.0"
MODEL_ID = f"pneumonia-qcnn8-reupload-{VERSION}"
DEFAULT_SEED = 20240601
N_QUBITS = 8
DIM = 2**N_QUBITS
CONV_PARAMS = 6
POOL_PARAMS = 2
X_CLIP = 4.0

RING_PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7), (1, 2), (3, 4), (5, 6), (7, 0))
# QCNN tail after the re-uploading layers: (pool pairs (source, sink), conv pairs after the pool)
TAIL = (
    (((0, 1), (2, 3), (4, 5), (6, 7)), ((1, 3), (5, 7), (3, 5), (7, 1))),
    (((1, 3), (5, 7)), ((3, 7),)),
    (((3, 7),), ()),
)
READOUT = (7, 3)
TAIL_PARAMS = 3 * POOL_PARAMS + 2 * CONV_PARAMS


def n_circuit_params(n_layers: int) -> int:
    return n_layers * (2 * N_QUBITS + CONV_PARAMS) + TAIL_PARAMS


# ---------------------------------------------------------------------------------------------
# small real matrices
# ---------------------------------------------------------------------------------------------
def _ry_m(t: float) -> np.ndarray:
    c, s = np.cos(t / 2), np.sin(t / 2)
    return np.array([[c, -s], [s, c]])


def _dry_m(t: float) -> np.ndarray:
    return 0.5 * _ry_m(t + np.pi)


# basis of a two-qubit block (a, b): index 2*bit_a + bit_b
_CX_AB = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=float)
_CX_BA = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]], dtype=float)


def conv_matrix(p: np.ndarray, deriv: int | None = None) -> np.ndarray:
    """4×4 matrix of the conv block; with ``deriv=k`` its derivative with respect to p[k]."""
    r = [(_dry_m if deriv == k else _ry_m)(p[k]) for k in range(6)]
    return np.kron(r[4], r[5]) @ _CX_BA @ np.kron(r[2], r[3]) @ _CX_AB @ np.kron(r[0], r[1])


def pool_matrix(q: np.ndarray, deriv: int | None = None) -> np.ndarray:
    """(source, sink) block: sink rotated by RY(q0) if source = 1 and by RY(q1) if source = 0."""
    m = np.zeros((4, 4))
    if deriv in (None, 0):
        m[2:, 2:] = (_dry_m if deriv == 0 else _ry_m)(q[0])
    if deriv in (None, 1):
        m[:2, :2] = (_dry_m if deriv == 1 else _ry_m)(q[1])
    return m


# ---------------------------------------------------------------------------------------------
# circuit description: a list of ops, shared by the simulator, the gradient and qiskit
#   ("enc", qubit, feature, k_scale, k_bias)  RY(θ[k_scale]·x[feature] + θ[k_bias]) per image
#   ("conv", a, b, k0)                        conv block with θ[k0:k0+6]
#   ("pool", src, sink, k0)                   pool block with θ[k0:k0+2]
# ---------------------------------------------------------------------------------------------
def build_ops(n_layers: int, n_inputs: int) -> list[tuple]:
    ops: list[tuple] = []
    k = 0
    for layer in range(n_layers):
        for q in range(N_QUBITS):
            ops.append(("enc", q, (N_QUBITS * layer + q) % n_inputs, k, k + 1))
            k += 2
        for a, b in RING_PAIRS:
            ops.append(("conv", a, b, k))
        k += CONV_PARAMS
    for pool_pairs, conv_pairs in TAIL:
        for s, t in pool_pairs:
            ops.append(("pool", s, t, k))
        k += POOL_PARAMS
        if conv_pairs:
            for a, b in conv_pairs:
                ops.append(("conv", a, b, k))
            k += CONV_PARAMS
    if k != n_circuit_params(n_layers):
        raise AssertionError(f"circuit layout has {k} parameters, expected {n_circuit_params(n_layers)}")
    return ops


def _ax(q: int) -> int:
    """Axis of qubit q in a (n, 2, ..., 2) state (qiskit little-endian: qubit 7 first)."""
    return 1 + (N_QUBITS - 1 - q)


def _apply2(psi: np.ndarray, a: int, b: int, m: np.ndarray) -> np.ndarray:
    """Apply a 4×4 matrix to qubits (a, b) of psi (n, 2, …, 2); returns a new array."""
    t = np.moveaxis(psi, (_ax(a), _ax(b)), (-2, -1))
    shp = t.shape
    out = (t.reshape(-1, 4) @ m.T).reshape(shp)
    return np.ascontiguousarray(np.moveaxis(out, (-2, -1), (_ax(a), _ax(b))))


def _pair_grad(lam: np.ndarray, psi: np.ndarray, a: int, b: int) -> np.ndarray:
    """Σ λ_i ψ_j over everything but the (a, b) block: dL/dM for out = M ψ."""
    lt = np.moveaxis(lam, (_ax(a), _ax(b)), (-2, -1)).reshape(-1, 4)
    pt = np.moveaxis(psi, (_ax(a), _ax(b)), (-2, -1)).reshape(-1, 4)
    return lt.T @ pt


def _apply_ry(psi: np.ndarray, q: int, theta: np.ndarray) -> np.ndarray:
    """Per-image RY(theta_n) on qubit q; theta shape (n,)."""
    ax = _ax(q)
    shape = (-1,) + (1,) * (N_QUBITS - 1)
    c = np.cos(theta / 2).reshape(shape)
    s = np.sin(theta / 2).reshape(shape)
    a0 = np.take(psi, 0, axis=ax)
    a1 = np.take(psi, 1, axis=ax)
    return np.stack([c * a0 - s * a1, s * a0 + c * a1], axis=ax)


def _ry_grad(lam: np.ndarray, psi: np.ndarray, q: int, theta: np.ndarray) -> np.ndarray:
    """Per-image dL/dθ_n = <λ_n | dRY(θ_n)/dθ | ψ_n>."""
    ax = _ax(q)
    shape = (-1,) + (1,) * (N_QUBITS - 1)
    c = np.cos(theta / 2).reshape(shape)
    s = np.sin(theta / 2).reshape(shape)
    a0, a1 = np.take(psi, 0, axis=ax), np.take(psi, 1, axis=ax)
    l0, l1 = np.take(lam, 0, axis=ax), np.take(lam, 1, axis=ax)
    g = l0 * (-s * a0 - c * a1) + l1 * (c * a0 - s * a1)
    return 0.5 * g.reshape(g.shape[0], -1).sum(axis=1)


def _enc_angle(op, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    _, _, f, ks, kb = op
    return theta[ks] * x[:, f] + theta[kb]


def _op_matrix(op, theta: np.ndarray) -> np.ndarray:
    if op[0] == "conv":
        return conv_matrix(theta[op[3] : op[3] + CONV_PARAMS])
    return pool_matrix(theta[op[3] : op[3] + POOL_PARAMS])


def zero_state(n: int) -> np.ndarray:
    psi = np.zeros((n,) + (2,) * N_QUBITS)
    psi[(slice(None),) + (0,) * N_QUBITS] = 1.0
    return psi


def run_circuit(x: np.ndarray, theta: np.ndarray, ops: list[tuple]) -> np.ndarray:
    """Final real statevectors, shape (n, 2, …, 2), of the circuit on inputs x (n, d)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    mats = {}
    psi = zero_state(x.shape[0])
    for op in ops:
        if op[0] == "enc":
            psi = _apply_ry(psi, op[1], _enc_angle(op, x, theta))
        else:
            key = (op[0], op[3])
            if key not in mats:
                mats[key] = _op_matrix(op, theta)
            psi = _apply2(psi, op[1], op[2], mats[key])
    return psi


def statevector(x: np.ndarray, theta: np.ndarray, ops: list[tuple]) -> np.ndarray:
    """Final statevectors (n, 256) in qiskit's little-endian basis order."""
    psi = run_circuit(x, theta, ops)
    return psi.reshape(psi.shape[0], -1)


def z_signs(qubits=READOUT) -> np.ndarray:
    """(len(qubits), 256) eigenvalues ±1 of Z_q on each basis state."""
    idx = np.arange(DIM)
    return np.stack([np.where((idx >> q) & 1, -1.0, 1.0) for q in qubits])


def expectations(x: np.ndarray, theta: np.ndarray, ops: list[tuple], qubits=READOUT) -> np.ndarray:
    """Exact ⟨Z_q⟩ for q in ``qubits`` after the circuit: (n, len(qubits))."""
    psi = statevector(x, theta, ops)
    return (psi * psi) @ z_signs(qubits).T


def loss_and_grad(params, x, y, weights, ops, n_circ, qubits=READOUT, l2=1e-4):
    """Weighted BCE of the head on the exact expectations, and its exact gradient (adjoint)."""
    theta = params[:n_circ]
    w = params[n_circ:-1]
    c = params[-1]
    psi = run_circuit(x, theta, ops)
    n = psi.shape[0]
    flat = psi.reshape(n, -1)
    zs = z_signs(qubits)
    e = (flat * flat) @ zs.T
    logit = e @ w + c
    loss = float((weights * (np.logaddexp(0, logit) - y * logit)).sum())
    dlogit = weights * (1.0 / (1.0 + np.exp(-logit)) - y)
    grad = np.zeros_like(params)
    grad[n_circ:-1] = e.T @ dlogit
    grad[-1] = dlogit.sum()
    de = dlogit[:, None] * w[None, :]
    lam = (2.0 * flat * (de @ zs)).reshape(psi.shape)
    mats: dict = {}
    gms: dict = {}
    for op in reversed(ops):
        if op[0] == "enc":
            ang = _enc_angle(op, x, theta)
            psi = _apply_ry(psi, op[1], -ang)  # state before this gate
            g = _ry_grad(lam, psi, op[1], ang)
            grad[op[3]] += g @ x[:, op[2]]
            grad[op[4]] += g.sum()
            lam = _apply_ry(lam, op[1], -ang)
        else:
            key = (op[0], op[3])
            if key not in mats:
                mats[key] = _op_matrix(op, theta)
            m = mats[key]
            psi = _apply2(psi, op[1], op[2], m.T)
            gms[key] = gms.get(key, 0.0) + _pair_grad(lam, psi, op[1], op[2])
            lam = _apply2(lam, op[1], op[2], m.T)
    for (kind, k0), gm in gms.items():
        if kind == "conv":
            for j in range(CONV_PARAMS):
                grad[k0 + j] += float((gm * conv_matrix(theta[k0 : k0 + CONV_PARAMS], deriv=j)).sum())
        else:
            for j in range(POOL_PARAMS):
                grad[k0 + j] += float((gm * pool_matrix(theta[k0 : k0 + POOL_PARAMS], deriv=j)).sum())
    # small L2 on the head weights only (circuit angles are periodic)
    loss += l2 * float((w * w).sum())
    grad[n_circ:-1] += 2 * l2 * w
    return loss, grad


# ---------------------------------------------------------------------------------------------
# fast layered evaluation: the data-free parts (conv layers, QCNN tail) are 256×256 orthogonal
# matrices built exactly from their gates on the 256 basis states; the data enter only through
# the per-image product rotations ⊗_i RY(a x + b).  Same numbers as the gate-by-gate run.
# ---------------------------------------------------------------------------------------------
def segments(ops: list[tuple]) -> list[tuple[str, list[tuple]]]:
    segs: list[tuple[str, list[tuple]]] = []
    for op in ops:
        kind = "enc" if op[0] == "enc" else "fixed"
        if segs and segs[-1][0] == kind:
            segs[-1][1].append(op)
        else:
            segs.append((kind, [op]))
    return segs


def _run_fixed(psi: np.ndarray, seg: list[tuple], theta: np.ndarray) -> np.ndarray:
    mats: dict = {}
    for op in seg:
        key = (op[0], op[3])
        if key not in mats:
            mats[key] = _op_matrix(op, theta)
        psi = _apply2(psi, op[1], op[2], mats[key])
    return psi


def fixed_unitary(seg: list[tuple], theta: np.ndarray) -> np.ndarray:
    """256×256 matrix U of a data-free segment: column j = U|j⟩ (computed gate by gate)."""
    basis = np.eye(DIM).reshape((DIM,) + (2,) * N_QUBITS)
    return _run_fixed(basis, seg, theta).reshape(DIM, DIM).T


def _fixed_backward(seg, theta, u, g_u, grad) -> None:
    """Add Σ_ij g_u[i, j] · dU_ij/dθ to grad (adjoint sweep over the 256 basis states)."""
    psi = u.T.reshape((DIM,) + (2,) * N_QUBITS).copy()
    lam = g_u.T.reshape((DIM,) + (2,) * N_QUBITS).copy()
    mats: dict = {}
    gms: dict = {}
    for op in reversed(seg):
        key = (op[0], op[3])
        if key not in mats:
            mats[key] = _op_matrix(op, theta)
        m = mats[key]
        psi = _apply2(psi, op[1], op[2], m.T)
        gms[key] = gms.get(key, 0.0) + _pair_grad(lam, psi, op[1], op[2])
        lam = _apply2(lam, op[1], op[2], m.T)
    _chain_block_grads(gms, theta, grad)


def _chain_block_grads(gms: dict, theta: np.ndarray, grad: np.ndarray) -> None:
    for (kind, k0), gm in gms.items():
        if kind == "conv":
            for j in range(CONV_PARAMS):
                grad[k0 + j] += float((gm * conv_matrix(theta[k0 : k0 + CONV_PARAMS], deriv=j)).sum())
        else:
            for j in range(POOL_PARAMS):
                grad[k0 + j] += float((gm * pool_matrix(theta[k0 : k0 + POOL_PARAMS], deriv=j)).sum())


def _rot_flat(psi: np.ndarray, q: int, c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """RY on qubit q of flat states (n, 256) with per-image cos/sin of half the angle."""
    n = psi.shape[0]
    v = psi.reshape(n, 2 ** (N_QUBITS - 1 - q), 2, 2**q)
    c = c[:, None, None]
    s = s[:, None, None]
    out = np.empty_like(v)
    a0, a1 = v[:, :, 0, :], v[:, :, 1, :]
    out[:, :, 0, :] = c * a0 - s * a1
    out[:, :, 1, :] = s * a0 + c * a1
    return out.reshape(n, DIM)


def _product_state(c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """⊗_q RY(θ_q)|0⟩ for each image: c, s of shape (n, 8) → (n, 256) (qubit 7 most significant)."""
    n = c.shape[0]
    psi = np.ones((n, 1))
    for q in range(N_QUBITS - 1, -1, -1):
        psi = (psi[:, :, None] * np.stack([c[:, q], s[:, q]], axis=1)[:, None, :]).reshape(n, -1)
    return psi


class Circuit:
    """The re-uploading QCNN for fixed hyper-parameters; fast exact forward and gradient."""

    def __init__(self, n_layers: int, n_inputs: int, readout=READOUT):
        self.n_layers = n_layers
        self.n_inputs = n_inputs
        self.readout = tuple(readout)
        self.ops = build_ops(n_layers, n_inputs)
        self.segs = segments(self.ops)
        self.n_circ = n_circuit_params(n_layers)
        self.n_params = self.n_circ + len(self.readout) + 1
        self.zs = z_signs(self.readout)

    def _angles(self, seg, x, theta):
        ang = np.stack([theta[op[3]] * x[:, op[2]] + theta[op[4]] for op in seg], axis=1)
        return np.cos(ang / 2), np.sin(ang / 2)

    def forward(self, x: np.ndarray, theta: np.ndarray, keep: bool = False):
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        psi = None
        saved = []
        for kind, seg in self.segs:
            if kind == "enc":
                c, s = self._angles(seg, x, theta)
                if psi is None:
                    psi = _product_state(c, s)
                else:
                    for j, op in enumerate(seg):
                        psi = _rot_flat(psi, op[1], c[:, j], s[:, j])
                saved.append((c, s, psi))
            else:
                u = fixed_unitary(seg, theta)
                saved.append((u, psi))
                psi = psi @ u.T
        return (psi, saved) if keep else psi

    def expectations(self, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        psi = self.forward(x, theta)
        return (psi * psi) @ self.zs.T

    def logits(self, x: np.ndarray, params: np.ndarray) -> np.ndarray:
        return self.expectations(x, params[: self.n_circ]) @ params[self.n_circ : -1] + params[-1]

    def loss_and_grad(self, params, x, y, weights, l2=1e-4):
        nc = self.n_circ
        theta, w, b = params[:nc], params[nc:-1], params[-1]
        psi, saved = self.forward(x, theta, keep=True)
        e = (psi * psi) @ self.zs.T
        logit = e @ w + b
        loss = float((weights * (np.logaddexp(0, logit) - y * logit)).sum()) + l2 * float(w @ w)
        dlogit = weights * (0.5 * (1.0 + np.tanh(0.5 * logit)) - y)
        grad = np.zeros_like(params)
        grad[nc:-1] = e.T @ dlogit + 2 * l2 * w
        grad[-1] = dlogit.sum()
        lam = 2.0 * psi * ((dlogit[:, None] * w[None, :]) @ self.zs)
        for i in range(len(self.segs) - 1, -1, -1):
            kind, seg = self.segs[i]
            if kind == "fixed":
                u, psi_in = saved[i]
                _fixed_backward(seg, theta, u, lam.T @ psi_in, grad)
                lam = lam @ u
            else:
                c, s, psi_out = saved[i]
                n = psi_out.shape[0]
                for op in seg:
                    q = op[1]
                    pv = psi_out.reshape(n, 2 ** (N_QUBITS - 1 - q), 2, 2**q)
                    lv = lam.reshape(n, 2 ** (N_QUBITS - 1 - q), 2, 2**q)
                    g = 0.5 * (lv[:, :, 1, :] * pv[:, :, 0, :] - lv[:, :, 0, :] * pv[:, :, 1, :]).sum(
                        axis=(1, 2)
                    )
                    grad[op[3]] += g @ x[:, op[2]]
                    grad[op[4]] += g.sum()
                if i > 0:
                    for j, op in enumerate(seg):
                        lam = _rot_flat(lam, op[1], c[:, j], -s[:, j])
        return loss, grad


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def balanced_weights(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    return np.where(y == 1, 0.5 / max(y.sum(), 1.0), 0.5 / max((1 - y).sum(), 1.0))


def init_params(circ: Circuit, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.empty(circ.n_params)
    p[: circ.n_circ] = rng.uniform(-np.pi, np.pi, circ.n_circ)
    for op in circ.ops:
        if op[0] == "enc":
            p[op[3]] = rng.normal(0.6, 0.1)  # scale: ±1 sd of the input → about ±35°
            p[op[4]] = rng.uniform(-np.pi, np.pi)
    p[circ.n_circ :] = 0.0
    p[circ.n_circ] = 1.0
    return p


def fit_circuit(circ: Circuit, x, y, seed: int, maxiter: int = 200, log=None) -> tuple[np.ndarray, dict]:
    """L-BFGS on the class-balanced BCE with exact adjoint gradients, from a seeded start."""
    from scipy.optimize import minimize

    y = np.asarray(y, dtype=float)
    wts = balanced_weights(y)
    t0 = time.time()
    calls = [0]

    def fun(p):
        calls[0] += 1
        loss, g = circ.loss_and_grad(p, x, y, wts)
        if log and calls[0] % 25 == 0:
            log(f"qcnn:   eval {calls[0]} loss={loss:.4f} ({time.time() - t0:.0f}s)")
        return loss, g

    res = minimize(
        fun,
        init_params(circ, seed),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": maxiter},
    )
    return res.x, {
        "loss": float(res.fun),
        "nfev": int(res.nfev),
        "nit": int(res.nit),
        "seconds": time.time() - t0,
    }


def mlp_n_params(n_inputs: int, hidden: int) -> int:
    return n_inputs * hidden + hidden + hidden + 1


def fit_mlp(x, y, hidden: int, seed: int, maxiter: int = 200, l2: float = 1e-4) -> np.ndarray:
    """Classical comparator: tanh MLP n_inputs→hidden→1, same loss, weights and optimiser as the QCNN."""
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=float)
    wts = balanced_weights(y)
    d = x.shape[1]
    rng = np.random.default_rng(seed)
    p0 = np.concatenate(
        [
            rng.normal(0, 1 / np.sqrt(d), d * hidden),
            np.zeros(hidden),
            rng.normal(0, 1, hidden) / np.sqrt(hidden),
            [0.0],
        ]
    )

    def fun(p):
        w1 = p[: d * hidden].reshape(d, hidden)
        b1 = p[d * hidden : d * hidden + hidden]
        w2 = p[d * hidden + hidden : -1]
        h = np.tanh(x @ w1 + b1)
        logit = h @ w2 + p[-1]
        loss = float((wts * (np.logaddexp(0, logit) - y * logit)).sum()) + l2 * float((p[:-1] ** 2).sum())
        dl = wts * (0.5 * (1 + np.tanh(0.5 * logit)) - y)
        dh = dl[:, None] * w2[None, :] * (1 - h * h)
        g = np.concatenate([(x.T @ dh).ravel(), dh.sum(0), h.T @ dl, [dl.sum()]])
        g[:-1] += 2 * l2 * p[:-1]
        return loss, g

    return minimize(fun, p0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter}).x


def mlp_logits(p: np.ndarray, x: np.ndarray, hidden: int) -> np.ndarray:
    d = x.shape[1]
    w1 = p[: d * hidden].reshape(d, hidden)
    b1 = p[d * hidden : d * hidden + hidden]
    return np.tanh(x @ w1 + b1) @ p[d * hidden + hidden : -1] + p[-1]


# ---------------------------------------------------------------------------------------------
# the released model
# ---------------------------------------------------------------------------------------------
class QCNNModel:
    kind = NAME

    def __init__(self, arrays: dict, card: dict, sha256: str):
        self.card = card
        self.sha256 = sha256
        self.model_id = card["model_id"]
        self.version = card["version"]
        self.threshold = float(card["threshold"])
        arch = arrays["arch"].astype(int)  # [n_layers, n_inputs, readout qubits...]
        self.circuit = Circuit(int(arch[0]), int(arch[1]), tuple(int(q) for q in arch[2:]))
        self._w = arrays["proj_w"].astype(np.float64)  # (2080, d): scaler + PCA + 1/sd
        self._b = arrays["proj_b"].astype(np.float64)
        self.params = np.concatenate([arrays["circuit_params"], arrays["head"]]).astype(np.float64)
        self.platt = arrays["platt"].astype(np.float64)
        # the data-free segments are fixed once trained: build their 256×256 matrices once
        self._unitaries = {
            i: fixed_unitary(seg, self.params[: self.circuit.n_circ])
            for i, (kind, seg) in enumerate(self.circuit.segs)
            if kind == "fixed"
        }

    def inputs_grid(self, grid28: np.ndarray) -> np.ndarray:
        """The d classical inputs x (standardised PCA components, clipped to ±4) of each image."""
        z = features(grid28).astype(np.float64) @ self._w + self._b
        return np.clip(z, -X_CLIP, X_CLIP)

    def logits_grid(self, grid28: np.ndarray) -> np.ndarray:
        x = self.inputs_grid(grid28)
        theta = self.params[: self.circuit.n_circ]
        psi = None
        for i, (kind, seg) in enumerate(self.circuit.segs):
            if kind == "enc":
                c, s = self.circuit._angles(seg, x, theta)
                if psi is None:
                    psi = _product_state(c, s)
                else:
                    for j, op in enumerate(seg):
                        psi = _rot_flat(psi, op[1], c[:, j], s[:, j])
            else:
                psi = psi @ self._unitaries[i].T
        e = (psi * psi) @ self.circuit.zs.T
        return e @ self.params[self.circuit.n_circ : -1] + self.params[-1]

    def proba_grid(self, grid28: np.ndarray) -> np.ndarray:
        t = self.platt[0] * self.logits_grid(grid28) + self.platt[1]
        return 0.5 * (1.0 + np.tanh(0.5 * t))

    def predict_proba_batch(self, images) -> np.ndarray:
        return self.proba_grid(contract.images_to_model_grid(images))

    def predict_batch(self, images) -> list[tuple[str, float]]:
        return [
            ("pneumonia" if q >= self.threshold else "normal", float(q))
            for q in self.predict_proba_batch(images)
        ]

    def predict(self, image128) -> tuple[str, float]:
        q = float(self.proba_grid(contract.to_model_grid(contract.check_image(image128))[None])[0])
        return ("pneumonia" if q >= self.threshold else "normal", q)


def build_qiskit_circuit(x: np.ndarray, theta: np.ndarray, n_layers: int, n_inputs: int):
    """The same circuit, bound to inputs x (d,) and circuit parameters θ, as a qiskit circuit.

    Conv block = ry, ry, cx, ry, ry, cx, ry, ry; pool block = cry, x, cry, x; encoding = ry.
    """
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(N_QUBITS)
    for op in build_ops(n_layers, n_inputs):
        if op[0] == "enc":
            _, q, f, ks, kb = op
            qc.ry(float(theta[ks] * x[f] + theta[kb]), q)
        elif op[0] == "conv":
            _, a, b, k = op
            p = theta[k : k + CONV_PARAMS]
            qc.ry(float(p[0]), a)
            qc.ry(float(p[1]), b)
            qc.cx(a, b)
            qc.ry(float(p[2]), a)
            qc.ry(float(p[3]), b)
            qc.cx(b, a)
            qc.ry(float(p[4]), a)
            qc.ry(float(p[5]), b)
        else:
            _, s, t, k = op
            qc.cry(float(theta[k]), s, t)
            qc.x(s)
            qc.cry(float(theta[k + 1]), s, t)
            qc.x(s)
    return qc


def _projection(F: np.ndarray, n_inputs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scaler + PCA(n_inputs) + 1/sd folded into one affine map (w (F, d), b (d,))."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(F)
    S = scaler.transform(F)
    pca = PCA(n_components=n_inputs, random_state=seed, svd_solver="full").fit(S)
    sd = pca.transform(S).std(axis=0)
    comps = pca.components_ / sd[:, None]
    w = (comps / scaler.scale_[None, :]).T
    b = -(scaler.mean_ / scaler.scale_) @ comps.T - pca.mean_ @ comps.T
    return w, b


def _platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, class_weight="balanced", max_iter=1000).fit(logits[:, None], y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _sigmoid(t):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(t)))


def _summary(vals: list[float]) -> dict:
    return {
        "mean": float(np.mean(vals)),
        "sd": float(np.std(vals, ddof=1)),
        "folds": [float(v) for v in vals],
    }


# v1.0.0 (PCA-8 angle encoding, one upload, 24-angle circuit, COBYLA), measured with the v1 code
# (commit 79afe7a) on the same 5 stratified folds (seed 20240601), one COBYLA restart per fold.
PREVIOUS_VERSION = {
    "model": "QCNN v1.0.0 (previous release; 8 qubits, PCA-8 angles in [0, pi], single upload, COBYLA)",
    "inputs": 8,
    "trainable_parameters": 26,
    "cv_auc_mean": 0.9514,
    "cv_auc_sd": 0.0029,
    "cv_acc_mean": 0.8802,
    "cv_acc_sd": 0.0080,
    "val_auc": 0.9551,
    "val_acc": 0.8855,
    "note": "official test split (checked from outside): AUC 0.880, ACC 0.811",
}

# hyper-parameter grid searched by cross-validation: (re-uploading layers L, PCA inputs d)
GRID = ((2, 8), (3, 16))
CV_FOLDS = 5
MAXITER = 150


def _cv_metrics(y, oof_logits, folds) -> dict:
    """Per-fold AUC, and ACC/sensitivity/specificity after Platt + threshold fitted on all OOF."""
    from sklearn.metrics import roc_auc_score

    a, b = _platt(oof_logits, y)
    prob = _sigmoid(a * oof_logits + b)
    thr = balanced_threshold(y, prob)
    per = {"auc": [], "acc": [], "sensitivity": [], "specificity": []}
    for _, te in folds:
        yt, pt = y[te], prob[te] >= thr
        per["auc"].append(roc_auc_score(yt, oof_logits[te]))
        per["acc"].append(float(np.mean(pt == (yt == 1))))
        per["sensitivity"].append(float(pt[yt == 1].mean()))
        per["specificity"].append(float((~pt[yt == 0]).mean()))
    return {
        "platt": (a, b),
        "threshold": thr,
        **{k: _summary(v) for k, v in per.items()},
    }


def train_qcnn(
    train_images,
    train_labels,
    val_images,
    val_labels,
    seed: int = DEFAULT_SEED,
    grid=GRID,
    folds: int = CV_FOLDS,
    maxiter: int = MAXITER,
    log=print,
) -> tuple[dict, dict]:
    """Fit the QCNN.  Returns (arrays, training_info).

    1. features of train + validation through the pipeline route;
    2. stratified ``folds``-fold CV on train + validation (scaler + PCA refitted inside each
       fold) for every (L, d) in ``grid``; the same folds and inputs also train the
       same-size classical comparators (a tanh MLP with as many parameters, and a logistic
       regression);
    3. (L, d) with the best mean CV AUC; Platt scaling (class-balanced, i.e. for a 50 %
       prior) and the decision threshold (``metrics.balanced_threshold``) on its
       out-of-fold predictions;
    4. the released circuit, scaler and PCA are fitted on **train only**, so the validation
       metrics on the card are on images the weights never saw (validation took part in
       choosing L, d, the calibration and the threshold, through the CV).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    t0 = time.time()
    Xtr = contract.medmnist_to_model_grid(train_images)
    Xva = contract.medmnist_to_model_grid(val_images)
    ytr = np.asarray(train_labels).ravel().astype(float)
    yva = np.asarray(val_labels).ravel().astype(float)
    Ftr = features(Xtr).astype(np.float64)
    Fva = features(Xva).astype(np.float64)
    F = np.vstack([Ftr, Fva])
    y = np.concatenate([ytr, yva])
    dmax = max(d for _, d in grid)
    cv_split = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(F, y))
    fold_inputs = []
    for tr, _ in cv_split:
        w, b = _projection(F[tr], dmax, seed)
        fold_inputs.append(np.clip(F @ w + b, -X_CLIP, X_CLIP))
    log(
        f"qcnn: {F.shape[0]} images (train + val), {folds}-fold CV, grid {list(grid)} ({time.time() - t0:.0f}s)"
    )

    results = []
    for n_layers, d in grid:
        circ = Circuit(n_layers, d)
        hidden = max(1, round((circ.n_params - 1) / (d + 2)))
        oof = {
            "qcnn": np.zeros(len(y)),
            "mlp": np.zeros(len(y)),
            "logreg": np.zeros(len(y)),
        }
        for f, (tr, te) in enumerate(cv_split):
            Z = fold_inputs[f][:, :d]
            p, fit = fit_circuit(circ, Z[tr], y[tr], seed=seed + f, maxiter=maxiter)
            oof["qcnn"][te] = circ.logits(Z[te], p)
            pm = fit_mlp(Z[tr], y[tr], hidden, seed=seed + f, maxiter=maxiter)
            oof["mlp"][te] = mlp_logits(pm, Z[te], hidden)
            lr = LogisticRegression(class_weight="balanced", max_iter=2000).fit(Z[tr], y[tr])
            oof["logreg"][te] = lr.decision_function(Z[te])
            log(
                f"qcnn: L={n_layers} d={d} fold {f}: AUC qcnn={roc_auc_score(y[te], oof['qcnn'][te]):.4f} "
                f"mlp={roc_auc_score(y[te], oof['mlp'][te]):.4f} logreg={roc_auc_score(y[te], oof['logreg'][te]):.4f} "
                f"(L-BFGS {fit['nit']} it, {time.time() - t0:.0f}s)"
            )
        res = {
            "layers": n_layers,
            "inputs": d,
            "params": {
                "qcnn": circ.n_params,
                "mlp": mlp_n_params(d, hidden),
                "logreg": d + 1,
            },
            "mlp_hidden": hidden,
            "metrics": {k: _cv_metrics(y, v, cv_split) for k, v in oof.items()},
            "oof": oof,
        }
        log(
            f"qcnn: L={n_layers} d={d} CV AUC "
            + ", ".join(f"{k}={m['auc']['mean']:.4f}±{m['auc']['sd']:.4f}" for k, m in res["metrics"].items())
        )
        results.append(res)
    best = max(results, key=lambda r: r["metrics"]["qcnn"]["auc"]["mean"])
    n_layers, d = best["layers"], best["inputs"]
    platt = best["metrics"]["qcnn"]["platt"]
    threshold = best["metrics"]["qcnn"]["threshold"]

    # the released model: projection and circuit on train only
    circ = Circuit(n_layers, d)
    w, b = _projection(Ftr, d, seed)
    Ztr = np.clip(Ftr @ w + b, -X_CLIP, X_CLIP)
    Zva = np.clip(Fva @ w + b, -X_CLIP, X_CLIP)
    p, fit = fit_circuit(circ, Ztr, ytr, seed=seed, maxiter=maxiter)
    log(f"qcnn: final fit on train L={n_layers} d={d}: loss={fit['loss']:.4f} ({time.time() - t0:.0f}s)")
    arrays = {
        "arch": np.array([n_layers, d, *circ.readout], dtype=np.int64),
        "proj_w": w.astype(np.float64),
        "proj_b": b.astype(np.float64),
        "circuit_params": p[: circ.n_circ].astype(np.float64),
        "head": p[circ.n_circ :].astype(np.float64),
        "platt": np.array(platt, dtype=np.float64),
    }
    train_seconds = round(time.time() - t0, 1)

    # same-size classical comparators on the same train-only inputs, evaluated on validation
    from .metrics import binary_metrics

    hidden = best["mlp_hidden"]
    pm = fit_mlp(Ztr, ytr, hidden, seed=seed, maxiter=maxiter)
    lr = LogisticRegression(class_weight="balanced", max_iter=2000).fit(Ztr, ytr)
    val_scores = {
        "qcnn": _sigmoid(platt[0] * circ.logits(Zva, p) + platt[1]),
        "mlp": mlp_logits(pm, Zva, hidden),
        "logreg": lr.decision_function(Zva),
    }
    val_cmp = {}
    for k, s in val_scores.items():
        m = best["metrics"][k]
        prob = s if k == "qcnn" else _sigmoid(m["platt"][0] * s + m["platt"][1])
        val_cmp[k] = {kk: v for kk, v in binary_metrics(yva, prob, m["threshold"]).items() if kk != "n"}

    names = {
        "qcnn": f"QCNN v{VERSION} (8 qubits, L={n_layers} re-uploading layers)",
        "mlp": f"classical MLP {d}-{hidden}-1 (tanh), same loss/optimiser",
        "logreg": "classical logistic regression",
    }
    rows = [
        {
            "model": names[k],
            "inputs": d,
            "trainable_parameters": best["params"][k],
            "cv_auc_mean": best["metrics"][k]["auc"]["mean"],
            "cv_auc_sd": best["metrics"][k]["auc"]["sd"],
            "cv_acc_mean": best["metrics"][k]["acc"]["mean"],
            "cv_acc_sd": best["metrics"][k]["acc"]["sd"],
            "val_auc": val_cmp[k]["auc"],
            "val_acc": val_cmp[k]["acc"],
        }
        for k in ("qcnn", "mlp", "logreg")
    ]
    rows.append(dict(PREVIOUS_VERSION))
    qc = build_qiskit_circuit(np.zeros(d), p[: circ.n_circ], n_layers, d)
    cv_info = {
        "scheme": f"stratified {folds}-fold on train + validation (n = {len(y)}), scaler + PCA refitted in each fold, "
        "seeded; ACC after Platt + threshold fitted on the out-of-fold predictions of each model",
        "chosen": {"layers": n_layers, "inputs": d},
        "grid": [
            {
                "layers": r["layers"],
                "inputs": r["inputs"],
                "params": r["params"],
                **{
                    f"{k}_auc": f"{m['auc']['mean']:.4f} ± {m['auc']['sd']:.4f}"
                    for k, m in r["metrics"].items()
                },
                **{
                    f"{k}_acc": f"{m['acc']['mean']:.4f} ± {m['acc']['sd']:.4f}"
                    for k, m in r["metrics"].items()
                },
            }
            for r in results
        ],
        "comparison_same_inputs_and_size": rows,
    }
    info = {
        "seed": seed,
        "threshold": threshold,
        "training_seconds": train_seconds,
        "cv": cv_info,
        "comparison": {
            "note": "QCNN vs classical models with the same inputs and (for the MLP) the same number of "
            "trainable parameters; CV = mean ± sd over folds, val = official validation split, fitted on train only",
            "rows": rows,
        },
        "hyper_parameters": {
            "reduction": f"features (2080) -> StandardScaler -> PCA({d}) -> /sd -> clip [-4, 4] (fitted on train)",
            "encoding": f"data re-uploading: {n_layers} layers of RY(a*x_f + b) on every qubit, trainable a, b per "
            f"qubit and layer; layer l uses component (8l + i) mod {d} on qubit i",
            "conv_block": "RY(p0)xRY(p1), CX(a->b), RY(p2)xRY(p3), CX(b->a), RY(p4)xRY(p5); shared per layer; "
            "after each encoding layer on the ring of 8, then on 4 and 2 qubits in the tail",
            "pool_block": "CRY(q0) src->sink, X(src), CRY(q1) src->sink, X(src); src not touched again",
            "stages": f"{n_layers} x (encode + conv on 8) -> pool 8->4 -> conv -> pool 4->2 -> conv -> pool 2->1",
            "readout": f"trained linear head on exact <Z> of qubits {list(circ.readout)}",
            "calibration": "Platt (class-balanced: probabilities for a 50 % prior) on out-of-fold CV logits",
            "platt_a_b": [float(v) for v in platt],
            "optimiser": f"L-BFGS-B (scipy), exact adjoint gradients, maxiter={maxiter}, seeded start",
            "loss": "class-balanced binary cross-entropy on the exact expectations",
            "threshold_rule": "median of thresholds within 0.01 of the best balanced accuracy on the "
            "calibrated out-of-fold CV predictions (train + validation), not on validation alone",
            "final_train_loss": fit["loss"],
            "selection": "(L, d) with the best mean CV AUC",
        },
        "quantum": {
            "qubits": N_QUBITS,
            "trainable_circuit_parameters": circ.n_circ,
            "trainable_classical_head_parameters": len(circ.readout) + 1,
            "circuit_depth": int(qc.depth()),
            "circuit_depth_decomposed_cx_ry": int(qc.decompose().depth()),
            "two_qubit_gates": int(sum(1 for i in qc.data if i.operation.num_qubits == 2)),
            "simulation": "exact statevector (no shots), vectorised numpy; equal to qiskit Statevector (tested)",
            "what_is_quantum": "only the 8-qubit circuit (re-uploading encoding + conv/pool) and its <Z> readout; "
            "the feature extraction, PCA reduction, head, calibration and optimiser are classical",
            "classical_baseline_same_8_inputs_val_auc": val_cmp["logreg"]["auc"],
            "classical_baseline_note": f"legacy key name: logistic regression on the same {d} inputs as the circuit",
            "same_size_classical_mlp_val_auc": val_cmp["mlp"]["auc"],
        },
    }
    return arrays, info
