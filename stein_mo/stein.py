r"""The Stein operator on particles: scores, directions, the RKHS Gramian and the kernel Stein discrepancy.

With particles :math:`x_1..x_M`, scores :math:`s_k(a) = \nabla \log p_k(x_a)` and a kernel (see
:mod:`stein_mo.kernels`), MT-SGD eq. (5) gives the steepest KL-descent direction for target :math:`k`

.. math:: \phi_k(x_a) = \frac{1}{M} \sum_b \big[k(x_b, x_a) s_k(b) + \nabla_{x_b} k(x_b, x_a)\big],

and eq. (3)/(4) their RKHS inner products :math:`U_{ij} = \langle \phi_i, \phi_j \rangle_{\mathcal{H}^d}`:

.. math:: U = \frac{1}{M^2}\big(T + c 1^\top + 1 c^\top + t\big), \quad
          T_{ij} = \sum_{a,b} k_{ab}\, s_i(a)^\top s_j(b), \quad c_i = \sum_a s_i(a)^\top R_a,

with :math:`R` the kernel repulsion and :math:`t` the summed trace term. Cost :math:`O(K M^2 d + K^2 M d)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ._checks import check_particles, check_scores, raise_non_finite
from .kernels import RBF, Kernel, KernelTerms

__all__ = ["ksd", "normalized_gramian", "num_batched", "scores", "stein_directions", "stein_gramian"]

Target = Callable[[Tensor], Tensor]
"""A log density: (M, d) particles to (M,) unnormalised log densities."""


def num_batched(targets: object) -> int | None:
    """K when ``targets`` is one callable evaluating K targets together, else ``None``.

    Such a *batched target* has an integer attribute ``num_targets`` = K and maps a (K, M, d) tensor to (K, M):
    target k evaluated on slice k. Its K log densities then cost one evaluation instead of K (see
    :class:`stein_mo.problems.GaussianMixture` with stacked parameters).
    """
    K = getattr(targets, "num_targets", None)
    if K is None or isinstance(targets, Sequence):
        return None
    if not isinstance(K, int) or K < 1 or not callable(targets):
        raise TypeError(f"a batched target needs a positive integer num_targets and to be callable, got {targets!r}")
    return K


def _name(target: object, k: int) -> str:
    if num_batched(target) is not None:
        names = getattr(target, "names", None)
        return f"target {k} ({names[k] if names else getattr(target, '__name__', type(target).__name__)})"
    return f"target {k} ({getattr(target, '__name__', type(target).__name__)})"


def scores(targets: Sequence[Target] | Target, X: Tensor) -> tuple[Tensor, Tensor]:
    r"""Log densities (K, M) and scores :math:`\nabla \log p_k` (K, M, d) of all targets in one backward pass.

    Each target sees its own copy of ``X``, so one ``autograd.grad`` of :math:`\sum_k \sum_a \log p_k(x_a)`
    yields every per-target score. Raises ``ValueError`` naming the target and the number of particles affected
    when a log density or a score is not finite, or when a target returns the wrong shape.

    >>> import torch, stein_mo
    >>> logp, S = stein_mo.scores([lambda x: -0.5 * (x**2).sum(-1)], torch.ones(3, 2))
    >>> S[0].tolist()
    [[-1.0, -1.0], [-1.0, -1.0], [-1.0, -1.0]]
    """
    check_particles(X)
    return _scores(targets, X)


def _scores(targets: Sequence[Target] | Target, X: Tensor) -> tuple[Tensor, Tensor]:
    M = X.shape[0]
    batched = num_batched(targets)
    K = batched or len(targets)
    # One leaf holding a copy of X per target, so that one backward pass gives each target's score separately.
    leaf = (X.detach() if K == 1 and not batched else X.detach().expand(K, *X.shape).contiguous()).requires_grad_(True)
    with torch.enable_grad():
        if batched:
            logp = targets(leaf)
            _check_logp(logp, (K, M), None, 0)
        elif K == 1:
            logp = targets[0](leaf)
            _check_logp(logp, (M,), targets[0], 0)
        else:
            logps = []
            for k, (target, x) in enumerate(zip(targets, leaf.unbind(0), strict=True)):
                lp = target(x)
                _check_logp(lp, (M,), target, k)
                logps.append(lp)
            logp = torch.stack(logps)
        if not logp.requires_grad:
            raise ValueError("no target's log density depends on the particles (no gradient flows to X)")
        total = logp.sum()
        (S,) = torch.autograd.grad(total, leaf)
    logp, S = logp.detach().view(K, M), S.view(K, M, -1)
    if not math.isfinite(S.sum().item() + total.item()):  # one cheap test; the details only on failure
        _raise_non_finite(targets, logp, S)
    return logp, S


def _check_logp(lp: object, shape: tuple[int, ...], target: object, k: int) -> None:
    """Raise unless ``lp`` is a tensor of ``shape``; ``target`` ``None`` means the batched target."""
    if not isinstance(lp, Tensor) or lp.shape != shape:
        got = tuple(lp.shape) if isinstance(lp, Tensor) else type(lp).__name__
        who = "the batched target" if target is None else _name(target, k)
        raise ValueError(f"{who} returned log densities of shape {got}, expected {shape}")


def _raise_non_finite(targets: Sequence[Target], logp: Tensor, S: Tensor) -> None:
    bad = ~torch.isfinite(logp) | ~torch.isfinite(S).all(-1)
    if bad.any():  # otherwise the sum merely overflowed
        each = [targets] * bad.shape[0] if num_batched(targets) else targets
        names = [_name(t, k) for k, t in enumerate(each)]
        raise_non_finite("non-finite log density or score", bad, names)


def _directions(terms: KernelTerms, KS: Tensor) -> Tensor:
    return (KS + terms.repulsion) / KS.shape[-2]


def _smoothed(terms: KernelTerms, g: Tensor, total: Tensor | None = None) -> Tensor:
    r"""The Stein direction of one score field ``g`` (M, d): :math:`(K g + c R) / M`, with ``total`` :math:`c`.

    Every sampler moves along this: SVGD with :math:`g = s`, MT-SGD with :math:`g = \sum_k w_k s_k` and
    :math:`c = \sum_k w_k` (so that the result is :math:`\sum_k w_k \phi_k`), MOO-SVGD with per-particle weights
    summing to one. ``total=None`` means :math:`c = 1`.
    """
    M = g.shape[0]
    if total is None:
        return torch.addmm(terms.repulsion, terms.matrix, g, beta=1 / M, alpha=1 / M)
    return torch.addmm(terms.repulsion * total, terms.matrix, g).div_(M)


def _gramian(terms: KernelTerms, S: Tensor, KS: Tensor) -> Tensor:
    r""":math:`U = \frac{1}{M^2}\big(\tfrac12 (V + V^\top) + t\big)` with :math:`V_{ij} = \langle S_i, K S_j + 2R
    \rangle`: the two cross terms :math:`\langle S_i, R\rangle + \langle S_j, R\rangle` come from the
    symmetrisation, which also makes U exactly symmetric."""
    M = S.shape[-2]
    # t enters every entry: added to V in the product (scaled there too), it survives the symmetrisation unchanged
    c = 0.5 / M**2
    V = torch.addmm(terms.trace, S.flatten(1), torch.add(KS.flatten(1), terms.repulsion.reshape(-1), alpha=2.0).T,
                    beta=c, alpha=c)  # fmt: skip
    return V + V.T


def stein_directions(X: Tensor, scores: Tensor, kernel: Kernel | None = None) -> Tensor:
    r"""Per-target Stein directions :math:`\phi_k(x_a)`, shape (K, M, d) (MT-SGD eq. 5).

    >>> import torch, stein_mo
    >>> X = torch.randn(10, 2)
    >>> stein_mo.stein_directions(X, -X[None], stein_mo.RBF()).shape
    torch.Size([1, 10, 2])
    """
    check_scores(X, scores)
    terms = (kernel or RBF())(X)
    return _directions(terms, terms.matrix @ scores)


def stein_gramian(X: Tensor, scores: Tensor, kernel: Kernel | None = None) -> Tensor:
    r"""Exact RKHS Gramian :math:`U_{ij} = \langle \phi_i, \phi_j \rangle_{\mathcal{H}^d}`, shape (K, K) (eq. 3/4).

    :math:`U` is a Gram matrix, hence positive semi-definite, and :math:`U_{kk}` is the squared kernel Stein
    discrepancy of target :math:`k` (:func:`ksd`).

    >>> import torch, stein_mo
    >>> X = torch.randn(20, 2, dtype=torch.float64)
    >>> U = stein_mo.stein_gramian(X, torch.stack([-X, -(X - 1)]))
    >>> bool(torch.linalg.eigvalsh(U).min() > -1e-12)
    True
    """
    check_scores(X, scores)
    terms = (kernel or RBF())(X)
    return _gramian(terms, scores, terms.matrix @ scores)


def ksd(X: Tensor, score: Tensor, kernel: Kernel | None = None) -> Tensor:
    r"""Squared kernel Stein discrepancy (V-statistic) of the particles against one target.

    :math:`\mathrm{KSD}^2 = \frac{1}{M^2} \sum_{a,b} u_p(x_a, x_b)` with the Stein kernel
    :math:`u_p(x, y) = s(x)^\top s(y) k + s(x)^\top \nabla_y k + s(y)^\top \nabla_x k
    + \operatorname{tr} \nabla_x \nabla_y k`.
    ``score`` is (M, d), or (K, M, d) for K discrepancies at once.

    >>> import torch, stein_mo
    >>> X = torch.randn(500, 1, dtype=torch.float64)
    >>> bool(stein_mo.ksd(X, -X) < stein_mo.ksd(X, -(X - 3)))
    True
    """
    single = score.ndim == 2
    S = score[None] if single else score
    check_scores(X, S)
    val = ksd_from_terms((kernel or RBF())(X), S)
    return val[0] if single else val


def ksd_from_terms(terms: KernelTerms, S: Tensor) -> Tensor:
    """Squared KSD of each target (K,) from precomputed kernel terms: the diagonal of :func:`stein_gramian`."""
    M = S.shape[-2]
    return ((S * (terms.matrix @ S)).sum((1, 2)) + 2 * (S * terms.repulsion).sum((1, 2)) + terms.trace) / M**2


def normalized_gramian(X: Tensor, scores: Tensor, kernel: Kernel | None = None) -> Tensor:
    r"""The MT-SGD reference code's approximation of :math:`U` (not eq. 3/4).

    Each target's score matrix is normalised per coordinate across particles,
    :math:`\hat s_k(a)_l = s_k(a)_l / \|s_k(\cdot)_l\|`, and only the kernel-weighted score Gram is kept:
    :math:`Q_{ij} = \sum_{a,b} k_{ab}\, \hat s_i(a)^\top \hat s_j(b)`. The repulsion and trace terms are dropped.
    """
    check_scores(X, scores)
    terms = (kernel or RBF())(X)
    return _normalized_gramian(terms, scores)


def _normalized_gramian(terms: KernelTerms, S: Tensor) -> Tensor:
    Sh = torch.nn.functional.normalize(S, dim=1)
    Q = Sh.flatten(1) @ (terms.matrix @ Sh).flatten(1).T
    return 0.5 * (Q + Q.T)
