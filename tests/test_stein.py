"""Stein directions and the exact Gramian against a pair-by-pair autograd brute force of eq. (4)."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

import stein_mo


def k_rbf(x, y, s):
    return torch.exp(-((x - y) ** 2).sum() / (2 * s**2))


def brute_force(X, S, s):
    """U of eq. (4) and phi of eq. (5), every kernel derivative by autograd, pair by pair."""
    K, M, d = S.shape
    U = torch.zeros(K, K, dtype=X.dtype)
    phi = torch.zeros(K, M, d, dtype=X.dtype)
    for a in range(M):
        for b in range(M):
            xa, xb = X[a].clone().requires_grad_(True), X[b].clone().requires_grad_(True)
            kab = k_rbf(xa, xb, s)
            ga, gb = torch.autograd.grad(kab, (xa, xb))
            H = torch.autograd.functional.hessian(lambda z: k_rbf(z[:d], z[d:], s), torch.cat([X[a], X[b]]))
            tr = H[:d, d:].diagonal().sum()
            for i in range(K):
                for j in range(K):
                    U[i, j] += kab.detach() * S[i, a] @ S[j, b] + S[i, a] @ gb + S[j, b] @ ga + tr
            # phi_k(x_b) gets k(x_a, x_b) s_k(a) + grad_{x_a} k(x_a, x_b)
            phi[:, b] += kab.detach() * S[:, a] + ga
    return U / M**2, phi / M


@pytest.fixture
def problem():
    M, d, K = 7, 3, 3
    X = torch.randn(M, d, dtype=torch.float64)
    S = torch.randn(K, M, d, dtype=torch.float64)
    s = float(np.sqrt(np.median(pdist(X.numpy(), "sqeuclidean")) / np.log(M + 1) / 2))
    return X, S, s


def test_gramian_matches_brute_force(problem):
    X, S, s = problem
    U_ref, _ = brute_force(X, S, s)
    U = stein_mo.stein_gramian(X, S, stein_mo.RBF())  # median heuristic gives the same s
    assert (U - U_ref).abs().max() <= 1e-10 * U_ref.abs().max()


def test_directions_match_brute_force(problem):
    X, S, s = problem
    _, phi_ref = brute_force(X, S, s)
    phi = stein_mo.stein_directions(X, S, stein_mo.RBF(sigma=s))
    assert (phi - phi_ref).abs().max() <= 1e-10 * phi_ref.abs().max()


@pytest.mark.parametrize("kernel", [stein_mo.RBF(), stein_mo.RBF(0.3), stein_mo.IMQ()])
def test_gramian_is_psd_and_diagonal_is_ksd(kernel):
    for _ in range(20):
        X = torch.randn(15, 4, dtype=torch.float64) * 2
        S = torch.randn(5, 15, 4, dtype=torch.float64) * torch.logspace(-2, 2, 5, dtype=torch.float64)[:, None, None]
        U = stein_mo.stein_gramian(X, S, kernel)
        ev = torch.linalg.eigvalsh(U)
        assert ev.min() >= -1e-12 * ev.max()
        torch.testing.assert_close(U.diagonal(), stein_mo.ksd(X, S, kernel), rtol=1e-12, atol=0)


def test_gramian_is_rkhs_inner_product_of_directions():
    # <phi_i, phi_j>_H with phi = (1/M) sum_b k(x_b, .) s(b) + grad k: for sigma -> infinity the kernel is
    # constant, U -> mean(s_i) . mean(s_j) (the seed's sigma -> inf case).
    X = torch.randn(10, 2, dtype=torch.float64)
    S = torch.randn(3, 10, 2, dtype=torch.float64)
    U = stein_mo.stein_gramian(X, S, stein_mo.RBF(sigma=1e7))
    m = S.mean(1)
    torch.testing.assert_close(U, m @ m.T, rtol=1e-8, atol=1e-12)


def test_single_particle_limit_is_score_gram():
    # q = delta_theta: U_ij = <grad log p_i, grad log p_j> (seed 000, section 2.3). Two particles far apart.
    X = torch.tensor([[0.0, 0.0], [1e4, 0.0]], dtype=torch.float64)
    S = torch.randn(3, 2, 2, dtype=torch.float64)
    U = stein_mo.stein_gramian(X, S, stein_mo.RBF(sigma=1.0))
    expect = (S[:, 0] @ S[:, 0].T + S[:, 1] @ S[:, 1].T + 2 * 2) / 4  # diagonal pairs only, trace d/sigma^2
    torch.testing.assert_close(U, expect, rtol=1e-12, atol=1e-12)


def test_ksd_vanishes_on_exact_gaussian_sample_and_grows_with_shift():
    X = torch.randn(2000, 2, dtype=torch.float64)
    on = stein_mo.ksd(X, -X)
    off = stein_mo.ksd(X, -(X - 1.0))
    assert on < 0.01 and off > 10 * on


def test_normalized_gramian_matches_reference_loop():
    X = torch.randn(9, 2, dtype=torch.float64)
    S = torch.randn(3, 9, 2, dtype=torch.float64)
    Km = stein_mo.RBF()(X).matrix
    Sh = [s / s.norm(dim=0, keepdim=True) for s in S]
    Q = torch.tensor([[(Km * (Sh[i] @ Sh[j].T)).sum().item() for j in range(3)] for i in range(3)], dtype=torch.float64)
    torch.testing.assert_close(stein_mo.normalized_gramian(X, S), Q, rtol=1e-12, atol=1e-14)


def test_scores_one_pass_match_analytic():
    X = torch.randn(6, 3, dtype=torch.float64)
    targets = [lambda x: -0.5 * (x**2).sum(-1), lambda x: -((x - 1) ** 2).sum(-1)]
    logp, S = stein_mo.scores(targets, X)
    torch.testing.assert_close(S[0], -X)
    torch.testing.assert_close(S[1], -2 * (X - 1))
    torch.testing.assert_close(logp[0], -0.5 * (X**2).sum(-1))


def test_scores_errors_name_target_and_count():
    X = torch.randn(5, 2).abs()
    X[:2, 0] *= -1  # log of a negative number: NaN log density for exactly 2 particles

    def nan_two(x):
        return -(x**2).sum(-1) + torch.log(x[:, 0])

    with pytest.raises(ValueError, match=r"target 1 \(nan_two\): 2 of 5 particles"):
        stein_mo.scores([lambda x: -(x**2).sum(-1), nan_two], X)
    with pytest.raises(ValueError, match=r"shape \(5, 1\), expected \(5,\)"):
        stein_mo.scores([lambda x: -(x**2).sum(-1, keepdim=True)], X)
    with pytest.raises(ValueError, match="depends on the particles"):
        stein_mo.scores([lambda x: torch.zeros(5)], X)


def test_shape_errors():
    X = torch.randn(5, 2)
    with pytest.raises(ValueError, match=r"does not match X"):
        stein_mo.stein_gramian(X, torch.randn(2, 4, 2))
    with pytest.raises(ValueError, match=r"\(K, M, d\)"):
        stein_mo.stein_directions(X, torch.randn(5, 2))
    with pytest.raises(ValueError, match="at least 2 particles"):
        stein_mo.ksd(torch.randn(1, 2), torch.randn(1, 2))
    with pytest.raises(ValueError, match=r"shape \(M, d\)"):
        stein_mo.stein_gramian(torch.randn(5), torch.randn(1, 5, 1))
    with pytest.raises(ValueError, match="not finite"):
        stein_mo.stein_gramian(X, torch.full((1, 5, 2), float("inf")))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_dtype(device, dtype):
    X = torch.randn(20, 3, dtype=dtype, device=device)
    S = torch.randn(2, 20, 3, dtype=dtype, device=device)
    U = stein_mo.stein_gramian(X, S)
    phi = stein_mo.stein_directions(X, S)
    assert U.device.type == phi.device.type == device.type and U.dtype == phi.dtype == dtype
    U64 = stein_mo.stein_gramian(X.double().cpu(), S.double().cpu())
    tol = 1e-4 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(U.double().cpu(), U64, rtol=tol, atol=tol * U64.abs().max().item())
