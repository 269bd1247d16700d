r"""Exact, batched minimum-norm weights over the probability simplex.

:func:`min_norm_weights` solves, for every Gramian in a batch,

.. math:: w^\star = \operatorname*{argmin}_{w \in \Delta_K} w^\top G w, \qquad
          \Delta_K = \{w \in \mathbb{R}^K_{\geq 0} : 1^\top w = 1\},

the QP of MGDA (Désidéri 2012; Sener & Koltun 2018), MT-SGD (Alg. 1, line 4) and MOO-SVGD.

The default solver is Wolfe's (1976) minimum-norm-point algorithm written against the Gramian only: with
:math:`G = P P^\top`, it keeps a *corral* :math:`S` of affinely independent points, takes the minimum-norm point of
their affine hull from the bordered system :math:`[G_{SS}\; 1; 1^\top\; 0][\alpha; \lambda] = [0; 1]`, steps back
into the simplex when some :math:`\alpha_i \le 0` (dropping that point), and otherwise adds the point most
opposed to the current one until :math:`\min_j (G w)_j \ge w^\top G w - \varepsilon` — the KKT condition of the
QP. It terminates finitely with an exact answer (up to the linear solves), needs no step size, and works on
rank-deficient Gramians because the corral, not :math:`G`, must be non-degenerate. All problems of a batch
advance together, with masks; the loop runs while any of them is unfinished.

For :math:`K \le 4` (the common sampler case) the same bordered system is solved at once for every one of the
:math:`2^K - 1` supports, with no loop and no device synchronisation: the optimum is the affine minimum-norm
point of some affinely independent support (Carathéodory), and every candidate is projected onto the simplex
before its objective is compared, so the smallest objective is the exact minimum. A single such problem on CPU
(MT-SGD's, once per step) runs the same enumeration on Python floats, with the two-point supports in closed form,
instead of ~20 small tensor operations (``benchmarks/bench_step_parts.py`` compares the two).
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
import warnings

import torch
from torch import Tensor

__all__ = ["check_gramian", "dual_cone_weights", "min_norm_weights"]


def check_gramian(G: Tensor, name: str = "G") -> None:
    """Raise unless ``G`` is a finite, non-empty (…, K, K) floating tensor."""
    if not isinstance(G, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (..., K, K), got {type(G).__name__}")
    if G.ndim < 2 or G.shape[-1] != G.shape[-2]:
        raise ValueError(f"{name} must be square in its last two dimensions (..., K, K), got {tuple(G.shape)}")
    if G.shape[-1] == 0 or G.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(G.shape)}): there is nothing to weight")
    if not G.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {G.dtype}")
    if not torch.isfinite(G).all():
        raise ValueError(f"{name} has non-finite entries")


def min_norm_weights(
    G: Tensor, *, backend: str = "torch", tol: float | None = None, max_iter: int | None = None
) -> Tensor:
    r"""Exact minimiser of :math:`w^\top G w` over the simplex, batched: (…, K, K) → (…, K).

    ``backend="torch"`` (default) is torch-native and runs on the input's device; the work is done in float64
    and cast back to ``G.dtype``. ``backend="cvxpy"`` solves each problem with cvxpy (reference and test
    oracle; slow, CPU only). ``tol`` is the KKT tolerance relative to :math:`\max_i G_{ii}` (default: 64 ×
    float64 machine epsilon × K).

    >>> import torch, stein_mo
    >>> G = torch.tensor([[1.0, -1.0], [-1.0, 4.0]])
    >>> stein_mo.min_norm_weights(G).tolist()  # (0.7, 0.3): the line segment's point closest to 0
    [0.7142857..., 0.2857142...]
    """
    check_gramian(G)
    if backend == "cvxpy":
        return _cvxpy_weights(G)
    if backend != "torch":
        raise ValueError(f"unknown backend {backend!r}; choose 'torch' or 'cvxpy'")
    return _min_norm_weights(G, tol, max_iter)


def _min_norm_weights(G: Tensor, tol: float | None = None, max_iter: int | None = None) -> Tensor:
    """:func:`min_norm_weights` without input checks, for inner loops that already hold a finite Gramian."""
    K = G.shape[-1]
    work = _work_dtype(G)
    tol = tol if tol is not None else 64 * torch.finfo(work).eps * K
    if K <= ENUMERATE_MAX_K and G.ndim == 2 and G.device.type == "cpu":
        return torch.tensor(_enumerate_one(G.tolist(), tol), dtype=G.dtype)
    Gb, _ = _normalized_gramians(G, work)
    if K <= ENUMERATE_MAX_K:
        w = _enumerate(Gb, tol)
    else:
        w = _wolfe(Gb, tol, max_iter if max_iter is not None else 50 + 20 * K)
    return w.to(G.dtype).reshape(G.shape[:-1])


def _work_dtype(G: Tensor) -> torch.dtype:
    return torch.float64 if G.device.type != "mps" else torch.float32  # MPS has no float64


def _normalized_gramians(G: Tensor, work: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """The Gramians (…, m, m) as a (B, m, m) batch in ``work`` precision, symmetrised and divided by their largest
    diagonal entry (floored at the smallest positive number), and those entries (B,)."""
    m = G.shape[-1]
    Gb = G.reshape(-1, m, m).to(work)
    Gb = 0.5 * (Gb + Gb.mT)
    scale = Gb.diagonal(dim1=-2, dim2=-1).amax(-1).clamp_min(torch.finfo(work).tiny)
    return Gb / scale[:, None, None], scale


def _warn_unfinished(solver: str, done: Tensor, max_iter: int) -> None:
    warnings.warn(
        f"{solver}: {int((~done).sum())} of {len(done)} problems did not meet the KKT tolerance in {max_iter} "
        "iterations; their weights are feasible but may be suboptimal",
        RuntimeWarning,
        stacklevel=4,
    )


ENUMERATE_MAX_K = 4
_SUBSETS: dict = {}


def _bordered(G: Tensor, S: Tensor) -> Tensor:
    """The affine min-norm system [[G_SS, 1], [1^T, 0]] with coordinates outside ``S`` pinned to zero.

    ``G`` is (..., K, K) and ``S`` (..., K) with the same leading shape.
    """
    K = G.shape[-1]
    eye = torch.eye(K, dtype=G.dtype, device=G.device)
    A = torch.zeros((*G.shape[:-2], K + 1, K + 1), dtype=G.dtype, device=G.device)
    A[..., :K, :K] = torch.where(S[..., :, None] & S[..., None, :], G, eye)
    A[..., :K, K] = S
    A[..., K, :K] = S
    return A


def _supports(K: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """For every non-empty support S of {0..K-1}: where the bordered system takes G or 1, its fixed entries, and rhs."""
    key = (K, device, dtype)
    if key not in _SUBSETS:
        codes = torch.arange(1, 2**K, device=device)
        S = (codes[:, None] >> torch.arange(K, device=device)) & 1 == 1  # (2^K - 1, K)
        S1 = torch.cat([S, torch.ones_like(S[:, :1])], 1)  # the border row/column is active for every support
        take = S1[:, :, None] & S1[:, None, :]
        take[:, K, K] = False  # the border's corner is 0
        fixed = torch.diag_embed((~S1).to(dtype))  # pinned coordinates: alpha_i = 0
        rhs = torch.zeros(len(S), K + 1, dtype=dtype, device=device)
        rhs[:, K] = 1.0
        _SUBSETS[key] = (take, fixed, rhs)
    return _SUBSETS[key]


def _enumerate(G: Tensor, tol: float) -> Tensor:
    B, K = G.shape[:2]
    take, fixed, rhs = _supports(K, G.device, G.dtype)
    bordered = torch.nn.functional.pad(G, (0, 1, 0, 1), value=1.0)  # [[G, 1], [1, 1]]; the corner comes from fixed
    alpha, info = torch.linalg.solve_ex(torch.where(take, bordered[:, None], fixed), rhs.expand(B, -1, -1))
    alpha = alpha[..., :K]  # (B, 2^K - 1, K); singular systems give info > 0 or NaN, both rejected below
    ok = (alpha >= -tol).all(-1) & (info == 0)
    w = alpha.clamp_min(0.0)
    w = w / w.sum(-1, keepdim=True)
    obj = torch.where(ok, ((w @ G) * w).sum(-1), torch.inf)
    return w[torch.arange(B, device=G.device), obj.argmin(-1)]


def _enumerate_one(G: list[list[float]], tol: float) -> list[float]:
    """:func:`_enumerate` for one Gramian given as Python floats (double precision), symmetrised and scaled as
    :func:`_normalized_gramians` does: on CPU, one K ≤ 4 problem (MT-SGD's, once per step) costs less this way
    than the ~20 small tensor operations of the batched path."""
    K = len(G)
    scale = max(max(G[i][i] for i in range(K)), sys.float_info.min)
    G = [[0.5 * (G[i][j] + G[j][i]) / scale for j in range(K)] for i in range(K)]
    best, best_w = math.inf, None
    for S in _support_tuples(K):
        if len(S) == 1:
            alpha = [1.0]
        elif len(S) == 2:  # the segment's affine min-norm point in closed form; singular if the points coincide
            i, j = S
            d = G[i][i] + G[j][j] - 2.0 * G[i][j]
            a = (G[j][j] - G[i][j]) / d if d != 0.0 else math.nan
            alpha = None if a != a else [a, 1.0 - a]
        else:
            alpha = _solve_bordered([[G[i][j] for j in S] + [1.0] for i in S] + [[1.0] * len(S) + [0.0]], len(S))
        if alpha is None or min(alpha) < -tol:  # singular, or not inside the simplex
            continue
        a = [max(v, 0.0) for v in alpha]
        total = sum(a)
        w = [0.0] * K
        for i, v in zip(S, a, strict=True):
            w[i] = v / total
        obj = sum(w[i] * G[i][j] * w[j] for i in S for j in S)
        if obj < best:
            best, best_w = obj, w
    if best_w is None:  # every objective was NaN
        raise ValueError(f"min_norm_weights: the Gramian is not finite: {G}")
    return best_w


@functools.cache
def _support_tuples(K: int) -> tuple[tuple[int, ...], ...]:
    return tuple(S for size in range(1, K + 1) for S in itertools.combinations(range(K), size))


def _solve_bordered(A: list[list[float]], n: int) -> list[float] | None:
    """The first ``n`` coordinates of the solution of ``A x = e_n`` (A is (n+1) × (n+1)), by Gaussian elimination
    with partial pivoting, as LAPACK's LU; ``None`` when a pivot is exactly zero (singular) or the result is NaN."""
    m = n + 1
    A = [[*row, float(i == n)] for i, row in enumerate(A)]
    for c in range(m):
        p = max(range(c, m), key=lambda r: abs(A[r][c]))
        if A[p][c] == 0.0:
            return None
        A[c], A[p] = A[p], A[c]
        pivot = A[c]
        for r in range(c + 1, m):
            f = A[r][c] / pivot[c]
            if f:
                row = A[r]
                for j in range(c, m + 1):
                    row[j] -= f * pivot[j]
    x = [0.0] * m
    for r in range(m - 1, -1, -1):
        x[r] = (A[r][m] - sum(A[r][j] * x[j] for j in range(r + 1, m))) / A[r][r]
    return None if any(v != v for v in x) else x[:n]


def _toward(x: Tensor, target: Tensor, active: Tensor, minor: Tensor) -> tuple[Tensor, Tensor]:
    """The minor cycle shared by Wolfe's min-norm point and Lawson–Hanson, on the rows where ``minor``: the largest
    step from x towards ``target`` that keeps the ``active`` coordinates >= 0; blocking coordinates leave the set."""
    blocking = active & (target <= 0)
    theta = torch.where(blocking, x / (x - target), torch.inf).min(-1)
    x_new = x + theta.values.clamp(max=1.0)[:, None] * (target - x)
    drop = (active & (x_new <= 0)) | (torch.nn.functional.one_hot(theta.indices, x.shape[-1]).bool() & blocking)
    x_new = x_new.masked_fill(drop | ~active, 0.0)
    return torch.where(minor[:, None], x_new, x), torch.where(minor[:, None], active & ~drop, active)


def _wolfe(G: Tensor, tol: float, max_iter: int) -> Tensor:
    B, K = G.shape[:2]
    rows = torch.arange(B, device=G.device)
    j0 = G.diagonal(dim1=-2, dim2=-1).argmin(-1)
    S = torch.zeros(B, K, dtype=torch.bool, device=G.device)
    S[rows, j0] = True
    w = S.to(G.dtype)
    done = torch.zeros(B, dtype=torch.bool, device=G.device)
    rhs = torch.zeros(B, K + 1, dtype=G.dtype, device=G.device)
    rhs[:, K] = 1.0
    for _ in range(max_iter):
        # Minimum-norm point of the corral's affine hull (inactive coordinates pinned to 0).
        alpha = torch.linalg.solve(_bordered(G, S), rhs)[:, :K]
        inside = ((alpha > 0) | ~S).all(-1)
        accept = ~done & inside
        minor = ~done & ~inside
        # Major cycle: move to alpha, test optimality, add the most violating point.
        w = torch.where(accept[:, None], alpha, w)
        g = (G @ w[:, :, None])[:, :, 0]
        xx = (w * g).sum(-1)
        gmin, j = g.masked_fill(S, torch.inf).min(-1)
        optimal = gmin >= xx - tol
        add = accept & ~optimal
        S[rows[add], j[add]] = True
        done = done | (accept & optimal)
        # Minor cycle: largest step towards alpha that stays in the simplex; drop the blocking point.
        if minor.any():
            w, S = _toward(w, alpha, S, minor)
        if done.all():
            break
    else:
        _warn_unfinished("min_norm_weights", done, max_iter)
    w = w.clamp_min(0.0)
    return w / w.sum(-1, keepdim=True)


def dual_cone_weights(G: Tensor, U: Tensor, *, backend: str = "torch", max_iter: int | None = None) -> Tensor:
    r"""Weights of the projection of :math:`J^\top u` onto the dual cone of the rows of J, from the Gramian only.

    By seed 003's Proposition 1, :math:`\pi_J(J^\top u) = J^\top v^\star` with

    .. math:: v^\star = \operatorname*{argmin}_{v \ge u} v^\top G v, \qquad G = J J^\top .

    ``G`` is (…, m, m) and ``U`` (…, r, m): r vectors u per Gramian, all solved at once → (…, r, m). This is the
    QP behind UPGrad and DualProj. The torch backend is an exact active-set method (Lawson & Hanson's NNLS on
    :math:`z = v - u \ge 0`, in Gramian form), batched with masks; it stops when the KKT conditions hold to a
    tolerance relative to :math:`\max_i G_{ii}`. ``backend="cvxpy"`` is the reference.

    >>> import torch, stein_mo
    >>> G = torch.tensor([[1.0, -1.0], [-1.0, 4.0]])  # g1 = (1, 0), g2 = (-1, sqrt(3)) conflict
    >>> stein_mo.dual_cone_weights(G, torch.eye(2)).tolist()  # g1 projected: add 0.25 g2; g2: add g1
    [[1.0, 0.25], [1.0, 1.0]]
    """
    check_gramian(G)
    if not isinstance(U, Tensor) or U.ndim < 2 or U.shape[-1] != G.shape[-1] or U.shape[:-2] != G.shape[:-2]:
        shape = tuple(U.shape) if isinstance(U, Tensor) else type(U).__name__
        raise ValueError(f"U must have shape (..., r, {G.shape[-1]}) matching G {tuple(G.shape)}, got {shape}")
    if not torch.isfinite(U).all():
        raise ValueError("U has non-finite entries")
    if backend == "cvxpy":
        return _cvxpy_dual_cone(G, U)
    if backend != "torch":
        raise ValueError(f"unknown backend {backend!r}; choose 'torch' or 'cvxpy'")
    return _dual_cone_weights(G, U, max_iter)


def _dual_cone_weights(G: Tensor, U: Tensor, max_iter: int | None = None) -> Tensor:
    m, r = G.shape[-1], U.shape[-2]
    work = _work_dtype(G)
    Gn, _ = _normalized_gramians(G, work)  # largest diagonal entry 1
    Ub = U.reshape(-1, r, m).to(work)
    uscale = Ub.abs().amax(-1, keepdim=True).clamp_min_(torch.finfo(work).tiny)
    # Warm starts need every principal submatrix well conditioned, which holds when G itself is (Cauchy interlacing).
    lam = torch.linalg.eigvalsh(Gn)
    warm = (lam[:, 0] > 1e-8 * lam[:, -1]).repeat_interleave(r)
    if Gn.shape[0] > 1:
        Gn = Gn.repeat_interleave(r, 0)  # (B r, m, m); one Gramian stays (1, m, m) and broadcasts
    Un = (Ub / uscale).reshape(-1, m)  # (B r, m), largest |u_i| 1
    tol = 64 * torch.finfo(work).eps * m
    z = _nnqp(Gn, _gv(Gn, Un), tol, max_iter or 10 * m + 50, warm)
    return ((Un + z).reshape(Ub.shape) * uscale).to(G.dtype).reshape(U.shape)


def _nnqp(
    G: Tensor, q: Tensor, tol: float, max_iter: int, warm: Tensor, guesses: int = 6, ridge: float = 0.0
) -> Tensor:
    """argmin_{z >= 0} z^T G z / 2 + q^T z for a batch of PSD ``G`` (B, m, m).

    Where ``warm`` (well-conditioned G), a few primal-dual active-set steps (Hintermüller, Ito & Kunisch, 2002)
    guess the free set, and the guesses that pass the KKT test are final. Everything else goes through the primal
    active-set method of Lawson and Hanson (finite, KKT-checked), from the guess or from z = 0. When q is in the
    range of G (the dual-cone QPs) Lawson-Hanson from 0 keeps its free columns independent; otherwise pass a
    ``ridge`` (relative to G's largest diagonal entry, 1 here), which moves the optimum by about that much.
    """
    B, m = q.shape
    rows = torch.arange(B, device=G.device)
    if ridge:  # makes every G_PP positive definite: needed when G is singular and q is outside its range (PNG)
        G = G + ridge * torch.eye(m, dtype=G.dtype, device=G.device)
    tol = tol * q.abs().amax(-1).clamp_min(1.0)  # (B,): gradients are as large as q, so is their rounding
    # Phase 1, primal-dual active set: free = {s_i - mu_i > 0}; re-solve only the problems whose set changed.
    P = (q < 0) & warm[:, None]  # coordinates whose objective decreases when they leave 0
    s = torch.zeros_like(q)
    ok = torch.zeros(B, dtype=torch.bool, device=G.device)  # solve succeeded on the current P
    todo = rows[warm]
    for _ in range(guesses if todo.numel() else 0):
        Gt, qt = (G if G.shape[0] == 1 else G[todo]), q[todo]
        s_t, info = _masked_solve(Gt, P[todo], -qt)
        s_t = torch.nan_to_num(s_t)
        s[todo], ok[todo] = s_t, info == 0
        new = (s_t - _gv(Gt, s_t) - qt) > 0
        changed = (new != P[todo]).any(-1)
        P[todo] = new
        todo = todo[changed]
        if todo.numel() == 0:
            break
    # Exact KKT test of the guesses; those that pass are done, the rest go to Lawson-Hanson from a feasible point.
    mu = _gv(G, s) + q
    done = warm & ok & ((s > 0) | ~P).all(-1) & ((mu >= -tol[:, None]) | P).all(-1)
    z = torch.where(P, s, 0.0).clamp_min(0.0)
    P = P & (z > 0)
    for _ in range(max_iter):
        if done.all():
            break
        # Unconstrained minimiser on the passive set, the other coordinates pinned to 0.
        s, info = _masked_solve(G, P, -q)
        singular = info != 0  # with q in the range of G, only a warm start can hold dependent columns: restart
        if singular.any():
            P, z = P & ~singular[:, None], z.masked_fill(singular[:, None], 0.0)
            s = torch.where(singular[:, None], 0.0, s)
        inside = ((s > 0) | ~P).all(-1)
        accept, minor = ~done & inside, ~done & ~inside
        z = torch.where(accept[:, None], s, z)
        # Major cycle: KKT test on the negative gradient, free the most violating coordinate.
        grad = -(_gv(G, z) + q)
        gmax, j = grad.masked_fill(P, -torch.inf).max(-1)
        optimal = gmax <= tol
        add = accept & ~optimal
        P[rows[add], j[add]] = True
        done = done | (accept & optimal)
        # Minor cycle: largest step towards s that keeps z >= 0; pin the blocking coordinates.
        if minor.any():
            z, P = _toward(z, s, P, minor)
    if not done.all():
        _warn_unfinished("dual_cone_weights", done, max_iter)
    return z.clamp_min(0.0)


def _gv(G: Tensor, x: Tensor) -> Tensor:
    """Rows of ``x`` (n, m) times the symmetric G (n, m, m), or (1, m, m) shared by all rows."""
    return x @ G[0] if G.shape[0] == 1 else (G @ x[:, :, None])[:, :, 0]


def _masked_solve(G: Tensor, P: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Solve G_PP x_P = b_P with x = 0 off P, batched (LU). ``info`` > 0 marks a singular G_PP.

    The systems are compacted to the largest free set k: free coordinates first, padded with pinned ones, so the
    factorisations cost k³ rather than m³.
    """
    n, m = P.shape
    k = max(int(P.sum(1).max()), 1)
    order = torch.argsort((~P).to(torch.int8), dim=1, stable=True)[:, :k]  # (n, k): free coordinates first
    free = P.gather(1, order)
    Gk = (
        G[0][order[:, :, None], order[:, None, :]]
        if G.shape[0] == 1
        else G.gather(1, order[:, :, None].expand(n, k, m)).gather(2, order[:, None, :].expand(n, k, k))
    )
    eye = torch.eye(k, dtype=G.dtype, device=G.device)
    A = torch.where(free[:, :, None] & free[:, None, :], Gk, eye)
    xk, info = torch.linalg.solve_ex(A, torch.where(free, b.gather(1, order), 0.0)[:, :, None])
    return torch.zeros_like(b).scatter(1, order, torch.where(free, xk[:, :, 0], 0.0)), info


def _cvxpy_dual_cone(G: Tensor, U: Tensor) -> Tensor:
    import cvxpy as cp
    import numpy as np

    m, r = G.shape[-1], U.shape[-2]
    Gs = G.detach().reshape(-1, m, m).cpu().double().numpy()
    Us = U.detach().reshape(-1, r, m).cpu().double().numpy()
    out = np.empty(Us.shape)
    for b, g in enumerate(Gs):
        gs = max(np.abs(np.diag(g)).max(), np.finfo(float).tiny)
        vals, vecs = np.linalg.eigh(0.5 * (g + g.T) / gs)  # well scaled: largest diagonal entry 1
        L = vecs * np.sqrt(np.clip(vals, 0.0, None))
        for i, u in enumerate(Us[b]):
            us = max(np.abs(u).max(), np.finfo(float).tiny)
            v = cp.Variable(m)
            cp.Problem(cp.Minimize(cp.sum_squares(L.T @ v)), [v >= u / us]).solve(
                solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-10
            )
            out[b, i] = np.maximum(v.value * us, u)
    return torch.as_tensor(out, dtype=G.dtype, device=G.device).reshape(U.shape)


def _cvxpy_weights(G: Tensor) -> Tensor:
    import cvxpy as cp
    import numpy as np

    K = G.shape[-1]
    Gs = G.detach().reshape(-1, K, K).cpu().double().numpy()
    out = np.empty((len(Gs), K))
    for i, g in enumerate(Gs):
        vals, vecs = np.linalg.eigh(0.5 * (g + g.T))
        L = vecs * np.sqrt(np.clip(vals, 0.0, None))  # G = L L^T
        w = cp.Variable(K, nonneg=True)
        problem = cp.Problem(cp.Minimize(cp.sum_squares(L.T @ w)), [cp.sum(w) == 1])
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        out[i] = np.clip(w.value, 0.0, None) / np.clip(w.value, 0.0, None).sum()
    return torch.as_tensor(out, dtype=G.dtype, device=G.device).reshape(G.shape[:-1])
