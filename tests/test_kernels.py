"""Kernel terms against autograd on the kernel itself, and the median heuristic against numpy."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

import stein_mo
from stein_mo.kernels import median_heuristic, squared_distances


def rbf(x, y, sigma):
    return torch.exp(-((x - y) ** 2).sum() / (2 * sigma**2))


def imq(x, y, sigma, beta=-0.5):
    return (1 + ((x - y) ** 2).sum() / (2 * sigma**2)) ** beta


SCALE = torch.tensor([0.5, 2.0, 1.3], dtype=torch.float64)


def scaled_rbf(x, y, sigma):
    return rbf(x / SCALE, y / SCALE, sigma)


@pytest.mark.parametrize(
    "kernel,fn",
    [(stein_mo.RBF(0.7), rbf), (stein_mo.IMQ(0.7), imq), (stein_mo.RBF(0.7, scale=SCALE), scaled_rbf)],
)
def test_terms_match_autograd(kernel, fn):
    M, d, s = 6, 3, 0.7
    X = torch.randn(M, d, dtype=torch.float64)
    terms = kernel(X)
    K = torch.tensor([[fn(X[a], X[b], s).item() for b in range(M)] for a in range(M)], dtype=torch.float64)
    rep = torch.zeros(M, d, dtype=torch.float64)
    trace = 0.0
    for a in range(M):
        for b in range(M):
            xb = X[b].clone().requires_grad_(True)
            (g,) = torch.autograd.grad(fn(xb, X[a], s), xb)  # grad wrt first argument x_b of k(x_b, x_a)
            rep[a] += g
            H = torch.autograd.functional.hessian(lambda z: fn(z[:d], z[d:], s), torch.cat([X[a], X[b]]))
            trace += H[:d, d:].diagonal().sum().item()
    torch.testing.assert_close(terms.matrix, K, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(terms.repulsion, rep, rtol=1e-10, atol=1e-12)
    assert abs(terms.trace.item() - trace) <= 1e-10 * abs(trace)


def test_trace_sign_is_plus_d_over_sigma_squared():
    # At a = b the RBF trace term is d / sigma^2 > 0 (the seed's "general case" line prints -d/sigma^2).
    X = torch.tensor([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0]], dtype=torch.float64)
    terms = stein_mo.RBF(sigma=0.5)(X)
    assert terms.trace.item() == pytest.approx(2 * 3 / 0.25, rel=1e-12)


@pytest.mark.parametrize("M", [2, 3, 4, 8, 10, 51, 100, 200, 701])  # odd and even numbers of pairs M(M-1)/2
@pytest.mark.parametrize("grid", [False, True])  # integer points: many exact ties, even coincidences
def test_median_heuristic_matches_numpy(M, grid):
    X = torch.randn(M, 4, dtype=torch.float64) if not grid else torch.randint(0, 3, (M, 2)).double()
    sigma = median_heuristic(squared_distances(X))
    expect = np.median(pdist(X.numpy(), "sqeuclidean")) / np.log(M + 1)
    assert (2 * sigma**2).item() == pytest.approx(expect, rel=1e-12)
    assert median_heuristic(squared_distances(X).T) == sigma  # a non-contiguous view works too


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_median_selection_is_exact_on_many_sets(dtype):
    """The selection itself, against numpy's median of the same distances, on 300 sets of M = 2 ... 400 (a wrong
    second middle value shows up only in about 1% of arrays, so one or two sets would not catch it)."""
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        M = int(torch.randint(2, 400, (1,), generator=g))
        r2 = squared_distances(torch.randn(M, 3, generator=g, dtype=dtype))
        iu = np.triu_indices(M, 1)
        expect = np.median(r2.numpy()[iu].astype(np.float64)) / np.log(M + 1)
        assert (2 * median_heuristic(r2).double() ** 2).item() == pytest.approx(expect, rel=1e-5)


def test_trace_can_be_skipped():
    X = torch.randn(30, 3, dtype=torch.float64)
    for kernel in (stein_mo.RBF(), stein_mo.RBF(scale="std"), stein_mo.IMQ()):
        full, lean = kernel.terms(X), kernel.terms(X, trace=False)
        assert lean.trace is None and full.trace is not None
        for a, b in zip(full[:2] + full[3:], lean[:2] + lean[3:], strict=True):
            assert torch.equal(a, b)


def test_median_floor_on_identical_particles():
    sigma = median_heuristic(squared_distances(torch.zeros(5, 2)))
    assert torch.isfinite(sigma) and sigma > 0
    terms = stein_mo.RBF()(torch.zeros(5, 2))
    assert torch.isfinite(terms.matrix).all() and torch.isfinite(terms.trace)


def test_fixed_sigma_is_used_as_given():
    X = torch.randn(20, 2)
    assert stein_mo.RBF(sigma=2.5)(X).bandwidth.item() == 2.5


def test_bandwidth_is_detached():
    X = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)
    assert not stein_mo.RBF()(X).bandwidth.requires_grad


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_sigma(bad):
    with pytest.raises(ValueError, match="sigma"):
        stein_mo.RBF(sigma=bad)


def test_bad_beta():
    with pytest.raises(ValueError, match="beta"):
        stein_mo.IMQ(beta=0.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_and_dtype_follow_input(device, dtype):
    X = torch.randn(16, 3, dtype=dtype, device=device)
    for term in stein_mo.RBF()(X):
        assert term.device.type == device.type and term.dtype == dtype


def test_std_scaled_rbf_is_the_fixed_scale_kernel_at_the_particles_std():
    X = torch.randn(8, 3, dtype=torch.float64) * torch.tensor([0.01, 1.0, 100.0], dtype=torch.float64)
    a = stein_mo.RBF(scale="std")(X)
    b = stein_mo.RBF(scale=X.std(0))(X)
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v)
    with pytest.raises(ValueError, match="scale"):
        stein_mo.RBF(scale="mad")


def test_feature_kernel_terms_match_autograd():
    """k(U(x_a), U(x_b)) with U(x) = (sin x0 + x1^2, x0 x2) in R^2: matrix, repulsion and trace by brute force."""
    M, d, s = 5, 3, 0.9

    def U(x):
        return torch.stack([torch.sin(x[..., 0]) + x[..., 1] ** 2, x[..., 0] * x[..., 2]], -1)

    X = torch.randn(M, d, dtype=torch.float64)
    J = torch.stack([torch.autograd.functional.jacobian(U, X[a]) for a in range(M)])  # (M, 2, d)
    for kernel, fn in ((stein_mo.RBF(s), rbf), (stein_mo.IMQ(s), imq)):
        terms = kernel.feature_terms(U(X), J)
        rep = torch.zeros(M, d, dtype=torch.float64)
        trace = 0.0
        for a in range(M):
            for b in range(M):
                xb = X[b].clone().requires_grad_(True)
                (g,) = torch.autograd.grad(fn(U(xb), U(X[a]), s), xb)
                rep[a] += g
                H = torch.autograd.functional.hessian(
                    lambda z, fn=fn: fn(U(z[:d]), U(z[d:]), s), torch.cat([X[a], X[b]])
                )
                trace += H[:d, d:].diagonal().sum().item()
        K = torch.tensor([[fn(U(X[a]), U(X[b]), s).item() for b in range(M)] for a in range(M)], dtype=torch.float64)
        torch.testing.assert_close(terms.matrix, K, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(terms.repulsion, rep, rtol=1e-10, atol=1e-12)
        assert abs(terms.trace.item() - trace) <= 1e-10 * abs(trace)
