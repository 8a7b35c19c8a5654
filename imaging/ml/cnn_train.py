"""Training of the CNN (PyTorch, CPU) and its export to ONNX.

Imported only by ``make train`` / ``diagnose train --model cnn``: the worker never imports this
module (inference is :mod:`.cnn` on ONNX Runtime), and ``torch`` is imported lazily inside the
functions so that importing the module itself costs nothing.

Recipe (all seeded):

* images through the pipeline route (``contract.medmnist_to_model_grid``), train + val pooled;
* a small ResNet: stem 3×3 conv (16) → 3 stages of one residual basic block each (16, 32, 64
  channels; 28→14→7) → global average pooling → one linear unit (the pneumonia logit);
* fresh augmentation every epoch (``augment.augment``: rotation, shift, zoom, gamma, contrast,
  brightness); class imbalance by a balanced ``pos_weight`` in the BCE loss;
* AdamW with a one-cycle schedule of ``max_epochs``; **5-fold stratified cross-validation on
  train + val** records the held-out AUC after every epoch; the number of epochs is the one with
  the best mean fold AUC (the schedule stays the ``max_epochs`` one, cut there);
* the out-of-fold logits at that epoch give the temperature (``calibration.fit_temperature``)
  and the decision threshold (``metrics.balanced_threshold`` on calibrated OOF probabilities);
* a final fit on all of train + val for the chosen number of epochs, exported to ONNX with two
  outputs: the logit and the last feature map (for CAM).
"""

from __future__ import annotations

import io
import time

import numpy as np

from . import contract
from .augment import augment

DEFAULT_SEED = 20240611
WIDTHS = (16, 32, 64)
MAX_EPOCHS = 16
MIN_EPOCHS = 6
BATCH = 64
LR = 3e-3
WEIGHT_DECAY = 1e-4
FOLDS = 5


def _torch():
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    return torch


def build_net(widths=WIDTHS):
    torch = _torch()
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return torch.relu(y + (x if self.short is None else self.short(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            w1, w2, w3 = widths
            self.stem = nn.Sequential(nn.Conv2d(1, w1, 3, 1, 1, bias=False), nn.BatchNorm2d(w1), nn.ReLU())
            self.stages = nn.Sequential(Block(w1, w1, 1), Block(w1, w2, 2), Block(w2, w3, 2))
            self.head = nn.Linear(w3, 1)

        def forward(self, x):  # x: (n, 1, 28, 28) in [0, 1]
            fmap = self.stages(self.stem(x - 0.5))
            logit = self.head(fmap.mean(dim=(2, 3)))[:, 0]
            return logit, fmap

    return Net()


def _fit(X, y, epochs_total, seed, eval_sets=(), stop_at=None, log=print, tag=""):
    """Train on (X, y) with a one-cycle schedule of ``epochs_total`` epochs, stopping after
    ``stop_at`` (default: all). After every epoch the logits of each ``eval_sets`` array are
    recorded. Returns (net, [per-epoch list of logits per eval set])."""
    torch = _torch()
    torch.manual_seed(seed)
    net = build_net()
    n = X.shape[0]
    pos = float((y == 1).sum())
    pos_weight = torch.tensor((n - pos) / max(pos, 1.0))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps = int(np.ceil(n / BATCH))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=LR, total_steps=epochs_total * steps, pct_start=0.2
    )
    yt = torch.tensor(y, dtype=torch.float32)
    rng = np.random.default_rng(seed)
    history = []
    stop_at = stop_at or epochs_total
    t0 = time.time()
    for ep in range(stop_at):
        net.train()
        aug, _ = augment(X, 1, int(rng.integers(2**31)))
        xa = torch.from_numpy(np.ascontiguousarray(aug[n:, None]))
        order = torch.from_numpy(rng.permutation(n))
        total = 0.0
        for i in range(steps):
            idx = order[i * BATCH : (i + 1) * BATCH]
            opt.zero_grad(set_to_none=True)
            logit, _ = net(xa[idx])
            loss = loss_fn(logit, yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * idx.numel()
        outs = [predict_logits(net, E) for E in eval_sets]
        history.append(outs)
        log(f"cnn{tag}: epoch {ep + 1}/{stop_at} loss={total / n:.4f} ({time.time() - t0:.0f}s)")
    return net, history


def predict_logits(net, X, batch=512):
    torch = _torch()
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, X.shape[0], batch):
            out.append(net(torch.from_numpy(np.ascontiguousarray(X[i : i + batch, None])))[0].numpy())
    return np.concatenate(out).astype(np.float64) if out else np.empty(0)


def stratified_folds(y, k=FOLDS, seed=DEFAULT_SEED):
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def export_onnx(net) -> bytes:
    torch = _torch()
    net.eval()
    buf = io.BytesIO()
    dummy = torch.zeros(1, 1, contract.MODEL_SIZE, contract.MODEL_SIZE)
    torch.onnx.export(
        net,
        (dummy,),
        buf,
        input_names=["image"],
        output_names=["logit", "features"],
        dynamic_axes={"image": {0: "n"}, "logit": {0: "n"}, "features": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    return buf.getvalue()


def train_cnn(images, labels, is_val, seed=DEFAULT_SEED, max_epochs=MAX_EPOCHS, folds=FOLDS, log=print):
    """Cross-validate, calibrate, pick the threshold, final fit. Returns (arrays, info).

    ``images``/``labels``: train + val pooled (MedMNIST uint8); ``is_val`` marks the official
    validation images (their out-of-fold predictions are reported as held-out validation).
    """
    from sklearn.metrics import roc_auc_score

    from .calibration import apply_temperature, fit_temperature
    from .metrics import balanced_threshold

    t0 = time.time()
    X = contract.medmnist_to_model_grid(images)
    y = np.asarray(labels).astype(int).ravel()
    split = stratified_folds(y, folds, seed)
    per_epoch = np.zeros((folds, max_epochs))
    oof_by_epoch = np.zeros((max_epochs, y.size))
    fold_of = np.zeros(y.size, dtype=int)
    for f, (tr, te) in enumerate(split):
        fold_of[te] = f
        _, hist = _fit(
            X[tr], y[tr], max_epochs, seed + f, eval_sets=(X[te],), log=log, tag=f" fold {f + 1}/{folds}"
        )
        for e, (lg,) in enumerate(hist):
            oof_by_epoch[e, te] = lg
            per_epoch[f, e] = roc_auc_score(y[te], lg)
        log(f"cnn: fold {f + 1} AUC by epoch {np.round(per_epoch[f], 4).tolist()} ({time.time() - t0:.0f}s)")
    mean_auc = per_epoch.mean(0)
    cand = np.arange(MIN_EPOCHS - 1, max_epochs)
    best_e = int(cand[np.argmax(mean_auc[cand])])  # 0-based
    epochs = best_e + 1
    oof = oof_by_epoch[best_e]
    temperature = fit_temperature(oof, y)
    p_oof = apply_temperature(oof, temperature)
    threshold = balanced_threshold(y, p_oof)
    log(
        f"cnn: chosen epochs={epochs} mean fold AUC={mean_auc[best_e]:.4f} T={temperature:.3f} thr={threshold:.3f}"
    )

    net, _ = _fit(X, y, max_epochs, seed + 100, stop_at=epochs, log=log, tag=" final")
    onnx_bytes = export_onnx(net)
    head_w = net.head.weight.detach().numpy()[0].astype(np.float32)
    head_b = np.float32(net.head.bias.detach().numpy()[0])
    arrays = {
        "onnx": np.frombuffer(onnx_bytes, dtype=np.uint8).copy(),
        "head_w": head_w,
        "head_b": np.array(head_b, dtype=np.float32),
        "temperature": np.array(temperature, dtype=np.float64),
    }
    fold_rows = []
    from .metrics import binary_metrics

    for f, (_, te) in enumerate(split):
        m = binary_metrics(y[te], p_oof[te], threshold)
        fold_rows.append({"fold": f + 1, "n": int(te.size), "auc": m["auc"], "acc": m["acc"]})
    info = {
        "seed": seed,
        "threshold": threshold,
        "training_seconds": round(time.time() - t0, 1),
        "hyper_parameters": {
            "architecture": "ResNet-style: stem conv3x3(16)+BN+ReLU; 3 basic residual blocks (16, 32/2, 64/2 "
            "channels; 28->14->7); global average pooling; linear(64->1)",
            "parameters": int(sum(p.numel() for p in net.parameters())),
            "input": "28x28 model grid in [0, 1] (pipeline route), centred by -0.5",
            "loss": "BCE with balanced pos_weight (n_normal / n_pneumonia)",
            "optimiser": f"AdamW lr={LR} weight_decay={WEIGHT_DECAY}, one-cycle over {max_epochs} epochs, batch {BATCH}",
            "epochs": epochs,
            "augmentation": "a fresh copy every epoch: rotation +-10 deg, shift +-2 px, zoom 0.92-1.08, "
            "gamma 0.8-1.25, contrast 0.85-1.15, brightness +-0.07",
            "calibration": "temperature scaling on the out-of-fold logits (class-balanced NLL: a 50/50 prior)",
            "temperature": temperature,
            "threshold_rule": "median of thresholds within 0.01 of the best balanced accuracy on the "
            "out-of-fold calibrated probabilities (train + val)",
            "inference": "ONNX Runtime (outputs: logit, last feature map for CAM)",
        },
        "cv": {
            "folds": folds,
            "scheme": f"StratifiedKFold({folds}, shuffle, seed) on train + val pooled",
            "mean_auc_by_epoch": [round(float(a), 5) for a in mean_auc],
            "chosen_epochs": epochs,
            "per_fold": fold_rows,
        },
        "oof": {"logit": oof, "fold": fold_of, "label": y, "is_val": np.asarray(is_val, dtype=bool)},
    }
    return arrays, info
