"""MT-SGD (seed 000, Alg. 2) written the way the reference code is: M separate networks, a Python loop over
particles, one backward call per particle and task, kernel gradients by one backward of the summed kernel matrix
through all members (the reference's ``kernel.sum().backward()``).

It is the peer for benchmarks/bench_mtl.py and an independent implementation for tests/test_multitask.py: it
shares no code with stein_mo.ensembles (its own RBF with numpy's median, its own min-norm solver).
Plain SGD steps without momentum, so that both implementations can be compared update for update.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F


def rbf(X: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """exp(-|x_a - x_b|^2 / (2 s^2)), differentiable in its first argument; 2 s^2 = median / log(M + 1)."""
    Y = X.detach()
    d2 = X.pow(2).sum(1)[:, None] - 2 * X @ Y.T + Y.pow(2).sum(1)[None, :]  # the reference's matmul form
    if sigma is None:
        M = X.shape[0]
        iu = np.triu_indices(M, 1)
        two_s2 = max(float(np.median(d2.detach().cpu().numpy()[iu])) / math.log(M + 1), np.finfo(float).eps)
    else:
        two_s2 = 2 * sigma**2
    return torch.exp(-d2 / two_s2)


def min_norm_weights(Q: torch.Tensor) -> torch.Tensor:
    """argmin over the simplex of w^T Q w: closed form for one or two tasks; for more, projected gradient steps
    (step 1/L, L the largest eigenvalue) each followed by an exact line search, as the reference's MinNormSolver."""
    K = Q.shape[0]
    if K == 1:
        return torch.ones(1, dtype=Q.dtype)
    if K == 2:
        a = (Q[1, 1] - Q[0, 1]) / (Q[0, 0] + Q[1, 1] - 2 * Q[0, 1])
        a = float(a.clamp(0, 1)) if torch.isfinite(a) else 0.5
        return torch.tensor([a, 1 - a], dtype=Q.dtype)
    G = Q.double().numpy()
    L = max(float(np.linalg.eigvalsh(G)[-1]), np.finfo(float).tiny)
    w = np.full(K, 1.0 / K)
    for _ in range(1000):
        d = _project_simplex(w - G @ w / L) - w
        curv = d @ G @ d
        step = float(np.clip(-(w @ G @ d) / curv, 0.0, 1.0)) if curv > 0 else 0.0
        w += step * d
        if step * np.abs(d).sum() < 1e-12:
            break
    return torch.tensor(w, dtype=Q.dtype)


def _project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex (sort-based)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    rho = np.nonzero(u - css / np.arange(1, len(v) + 1) > 0)[0][-1]
    return np.maximum(v - css[rho] / (rho + 1), 0.0)


def _flat(grads) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def _kernel(outs, modules, sigma, kernel_on):
    """The kernel matrix (detached) and, per member, the gradient of its sum w.r.t. that member's parameters, from
    one backward through all members: on the outputs ``outs[m]`` or on the flattened parameters."""
    params = [list(m.parameters()) for m in modules]
    rows = [o.reshape(-1) for o in outs] if kernel_on == "outputs" else [_flat(p) for p in params]
    kernel = rbf(torch.stack(rows), sigma)
    flat = torch.autograd.grad(kernel.sum(), [p for ps in params for p in ps], retain_graph=True)
    sizes = [len(ps) for ps in params]
    return kernel.detach(), torch.stack([_flat(g) for g in _split(flat, sizes)])


def _split(items, sizes):
    out, i = [], 0
    for n in sizes:
        out.append(items[i : i + n])
        i += n
    return out


def _apply(params, flat: torch.Tensor, lr: float) -> None:
    i = 0
    with torch.no_grad():
        for p in params:
            p -= lr * flat[i : i + p.numel()].view_as(p)
            i += p.numel()


def loop_mtsgd_step(
    encoders,
    heads,
    x,
    y,
    lr: float,
    tau: float,
    sigma: float | None = None,
    gramian: str = "parameters",
    kernel_on: str = "outputs",
    loss=F.cross_entropy,
) -> None:
    """One MT-SGD step on M networks (encoders[m], heads[m][k]), in place; kernels on the outputs (features for the
    encoder, logits for a head) or, ``kernel_on="parameters"``, on each part's parameters.

    ``gramian="features"``: Q from the task gradients with respect to each member's features, and the drift
    back-propagated from the weighted feature gradients, one member at a time. ``loss(output, target)``: each task's
    mean loss (cross-entropy on logits by default)."""
    M, K = len(encoders), len(heads[0])
    feats = [encoders[m](x) for m in range(M)]
    # heads, given the features
    for k in range(K):
        outs, scores = [], []
        for m in range(M):
            o = heads[m][k](feats[m].detach())
            scores.append(
                _flat(torch.autograd.grad(loss(o, y[:, k]), list(heads[m][k].parameters()), retain_graph=True))
            )
            outs.append(o)
        kernel, kgrads = _kernel(outs, [heads[m][k] for m in range(M)], sigma, kernel_on)
        grad = kernel @ torch.stack(scores) + tau * kgrads
        for m in range(M):
            _apply(list(heads[m][k].parameters()), grad[m], lr)
    # encoder, given the updated heads
    if gramian == "features":
        _encoder_features_step(encoders, heads, feats, y, lr, tau, sigma, kernel_on, loss)
        return
    J = [[None] * M for _ in range(K)]
    for m in range(M):
        enc_params = list(encoders[m].parameters())
        for k in range(K):
            J[k][m] = _flat(torch.autograd.grad(loss(heads[m][k](feats[m]), y[:, k]), enc_params, retain_graph=True))
    J = torch.stack([torch.stack(row) for row in J])  # (K, M, P)
    Kd, kgrads = _kernel(feats, encoders, sigma, kernel_on)
    Q = torch.tensor([[float((Kd * (J[i] @ J[j].T)).sum()) for j in range(K)] for i in range(K)], dtype=J.dtype)
    w = min_norm_weights(Q).to(J)
    grad = sum(w[k] * (Kd @ J[k]) for k in range(K)) + w.sum() * tau * kgrads
    for m in range(M):
        _apply(list(encoders[m].parameters()), grad[m], lr)


def _encoder_features_step(encoders, heads, feats, y, lr: float, tau: float, sigma, kernel_on: str, loss) -> None:
    """The encoder's update with Q_ij = sum_ab k_ab <dL_i/dz_a, dL_j/dz_b> and drift sum_b k_ab J_b^T v_b."""
    M, K = len(encoders), len(heads[0])
    C = [[_flat(torch.autograd.grad(loss(heads[m][k](feats[m]), y[:, k]), feats[m], retain_graph=True))
          for m in range(M)] for k in range(K)]  # fmt: skip
    C = torch.stack([torch.stack(row) for row in C])  # (K, M, B * F)
    Kd, kgrads = _kernel(feats, encoders, sigma, kernel_on)
    Q = torch.tensor([[float((Kd * (C[i] @ C[j].T)).sum()) for j in range(K)] for i in range(K)], dtype=C.dtype)
    w = min_norm_weights(Q).to(C.dtype)
    G = torch.stack([
        _flat(torch.autograd.grad(feats[m], list(encoders[m].parameters()),
                                  sum(w[k] * C[k, m] for k in range(K)).view_as(feats[m]), retain_graph=True))
        for m in range(M)
    ])  # fmt: skip
    grad = Kd @ G + w.sum() * tau * kgrads
    for m in range(M):
        _apply(list(encoders[m].parameters()), grad[m], lr)
