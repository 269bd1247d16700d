"""The simplex QP against cvxpy, closed forms and its KKT conditions."""

import cvxpy as cp
import numpy as np
import pytest
import torch

import stein_mo


def random_gramian(rng, K, rank, n, log_scale=3.0):
    J = rng.standard_normal((K, rank)) @ rng.standard_normal((rank, n))
    J *= 10.0 ** rng.uniform(-log_scale, log_scale, size=(K, 1))
    return torch.from_numpy(J @ J.T), J


def cvxpy_objective(J):
    w = cp.Variable(J.shape[0], nonneg=True)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(J.T @ w)), [cp.sum(w) == 1])
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return float(prob.value)


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_matches_cvxpy_on_hundreds_of_gramians():
    rng = np.random.default_rng(0)
    worst = 0.0
    for trial in range(300):
        K = int(rng.integers(2, 13))
        rank = int(rng.integers(1, K + 1)) if trial % 2 else K  # half rank-deficient
        G, J = random_gramian(rng, K, rank, n=int(rng.integers(rank, 3 * K + 1)))
        w = stein_mo.min_norm_weights(G)
        assert (w >= 0).all() and abs(w.sum().item() - 1) < 1e-14
        ours = (w @ G @ w).item()
        ref = cvxpy_objective(J)
        worst = max(worst, abs(ours - ref) / G.trace().item())
    assert worst <= 1e-8


def test_kkt_conditions_hold():
    rng = np.random.default_rng(1)
    for _ in range(200):
        K = int(rng.integers(2, 13))
        G, _ = random_gramian(rng, K, int(rng.integers(1, K + 1)), n=K)
        w = stein_mo.min_norm_weights(G)
        g = G @ w
        lam = w @ g  # (G w)_i >= w^T G w for all i, with equality on the support
        assert (g >= lam - 1e-11 * G.diagonal().max()).all()


def test_two_point_closed_form():
    # Sener & Koltun (2018), Alg. 1: gamma = clip(((v2 - v1) . v2) / ||v1 - v2||^2, 0, 1)
    rng = np.random.default_rng(2)
    for _ in range(100):
        v = torch.from_numpy(rng.standard_normal((2, 3)))
        G = v @ v.T
        gamma = ((v[1] - v[0]) @ v[1] / (v[0] - v[1]).pow(2).sum()).clamp(0, 1)
        torch.testing.assert_close(stein_mo.min_norm_weights(G), torch.stack([gamma, 1 - gamma]), rtol=0, atol=1e-12)


def test_batched_equals_single():
    rng = np.random.default_rng(3)
    Gs = torch.stack([random_gramian(rng, 6, int(rng.integers(1, 7)), 6)[0] for _ in range(24)]).reshape(2, 3, 4, 6, 6)
    batched = stein_mo.min_norm_weights(Gs)
    assert batched.shape == (2, 3, 4, 6)
    single = torch.stack([stein_mo.min_norm_weights(G) for G in Gs.reshape(-1, 6, 6)]).reshape(2, 3, 4, 6)
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-13)


@pytest.mark.parametrize("K", [2, 3, 4])
def test_single_cpu_problems_match_the_batched_path(K):
    """One K <= 4 Gramian on CPU is solved on Python floats (_enumerate_one), a batch by tensor operations: the
    two must agree, on rank-deficient Gramians, rows of scales 1e-3 ... 1e3, duplicate and zero rows."""
    rng = np.random.default_rng(10 + K)
    Gs = []
    for trial in range(300):
        G, J = random_gramian(rng, K, int(rng.integers(1, K + 1)), n=K)
        if trial % 5 == 0:  # a duplicate row
            J[-1] = J[0]
        if trial % 7 == 0:  # a zero row: the optimum is 0
            J[trial % K] = 0.0
        Gs.append(torch.from_numpy(J @ J.T))
    Gs = torch.stack(Gs)
    batched = stein_mo.min_norm_weights(Gs)
    single = torch.stack([stein_mo.min_norm_weights(G) for G in Gs])
    assert (single >= 0).all() and (single.sum(-1) - 1).abs().max() < 1e-14
    f_single = torch.einsum("bi,bij,bj->b", single, Gs, single)
    f_batched = torch.einsum("bi,bij,bj->b", batched, Gs, batched)
    assert ((f_single - f_batched).abs() / Gs.diagonal(dim1=1, dim2=2).sum(-1)).max() < 1e-12
    for G, f in zip(Gs[:50], f_batched[:50], strict=True):  # float32 in, float32 out, optimal to float32 precision
        w32 = stein_mo.min_norm_weights(G.float())
        assert w32.dtype == torch.float32
        w = w32.double()
        assert (w @ G @ w - f) / G.trace() < 1e-6


def test_zero_in_hull_gives_zero_objective():
    v = torch.tensor([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]], dtype=torch.float64)
    w = stein_mo.min_norm_weights(v @ v.T)
    assert (w @ v).norm() < 1e-12


def test_duplicate_and_zero_rows():
    v = torch.tensor([[1.0, 2.0], [1.0, 2.0], [3.0, -1.0], [0.0, 0.0]], dtype=torch.float64)
    w = stein_mo.min_norm_weights(v @ v.T)
    assert (w @ v).norm() < 1e-14  # the zero row is the minimiser
    assert stein_mo.min_norm_weights(torch.zeros(3, 3)).sum().item() == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_extreme_scales():
    rng = np.random.default_rng(4)
    for _ in range(50):
        J = rng.standard_normal((5, 8)) * np.array([1e-3, 1e3, 1.0, 1e-3, 1e3])[:, None]
        G = torch.from_numpy(J @ J.T)
        w = stein_mo.min_norm_weights(G)
        assert (w @ G @ w).item() <= cvxpy_objective(J) + 1e-8 * G.trace().item()


def test_cvxpy_backend_agrees():
    rng = np.random.default_rng(5)
    G = torch.stack([random_gramian(rng, 4, 4, 6)[0] for _ in range(3)])
    a, b = stein_mo.min_norm_weights(G), stein_mo.min_norm_weights(G, backend="cvxpy")
    torch.testing.assert_close(
        torch.einsum("bi,bij,bj->b", a, G, a), torch.einsum("bi,bij,bj->b", b, G, b), rtol=1e-6, atol=1e-10
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_dtype(device, dtype):
    rng = np.random.default_rng(6)
    G64 = torch.stack([random_gramian(rng, 5, 3, 5, log_scale=1)[0] for _ in range(10)])
    G = G64.to(device=device, dtype=dtype)
    w = stein_mo.min_norm_weights(G)
    assert w.device.type == device.type and w.dtype == dtype
    ref = stein_mo.min_norm_weights(G.double().cpu())
    obj = torch.einsum("bi,bij,bj->b", w.double().cpu(), G.double().cpu(), w.double().cpu())
    obj_ref = torch.einsum("bi,bij,bj->b", ref, G.double().cpu(), ref)
    assert ((obj - obj_ref) <= 1e-6 * G64.diagonal(dim1=1, dim2=2).sum(1)).all()


def test_k_equals_one():
    assert stein_mo.min_norm_weights(torch.tensor([[3.0]])).tolist() == [1.0]


@pytest.mark.parametrize(
    "G,msg",
    [
        (torch.zeros(2, 3), "square"),
        (torch.zeros(0, 0), "empty"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), "non-finite"),
        (torch.ones(3), "square"),
        (torch.ones(2, 2, dtype=torch.int64), "floating"),
    ],
)
def test_bad_input(G, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        stein_mo.min_norm_weights(G)


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        stein_mo.min_norm_weights(torch.eye(2), backend="quadprog")


@pytest.mark.parametrize("K", [2, 3, 4])
def test_enumeration_and_wolfe_agree(K):
    from stein_mo.qp import _enumerate, _wolfe

    rng = np.random.default_rng(K)
    G = torch.stack([random_gramian(rng, K, int(rng.integers(1, K + 1)), K, log_scale=2)[0] for _ in range(200)])
    G = G / G.diagonal(dim1=1, dim2=2).amax(1)[:, None, None]
    a, b = _enumerate(G, 1e-13), _wolfe(G, 1e-13, 100)
    fa, fb = torch.einsum("bi,bij,bj->b", a, G, a), torch.einsum("bi,bij,bj->b", b, G, b)
    assert (fa - fb).abs().max() < 1e-12
