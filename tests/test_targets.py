"""Batched targets: K log densities in one evaluation give the same scores and runs as K separate callables."""

import pytest
import torch
from scipy.stats import multivariate_normal

import stein_mo
from stein_mo.problems import GaussianMixture, three_mixtures


def random_mixture(C, d, g):
    A = torch.randn(C, d, d, dtype=torch.float64, generator=g)
    return GaussianMixture(
        torch.randn(C, d, dtype=torch.float64, generator=g) * 2,
        torch.softmax(torch.randn(C, dtype=torch.float64, generator=g), 0),
        A @ A.mT + 0.5 * torch.eye(d, dtype=torch.float64),
    )


def test_stacked_full_covariance_mixture_matches_scipy():
    g = torch.Generator().manual_seed(1)
    mixtures = [random_mixture(3, 4, g) for _ in range(2)]
    stacked = GaussianMixture.stack(mixtures)
    assert stacked.num_targets == 2 and stacked.variance is None
    X = torch.randn(2, 20, 4, dtype=torch.float64, generator=g)
    for k, m in enumerate(mixtures):
        cov = (m.scale_tril @ m.scale_tril.mT).numpy()
        dens = sum(
            w * multivariate_normal(mu, c).pdf(X[k].numpy())
            for w, mu, c in zip(m.weights.numpy(), m.means.numpy(), cov, strict=True)
        )
        torch.testing.assert_close(stacked(X)[k], torch.as_tensor(dens).log(), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(stacked(X[0])[k], m(X[0]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stacked", [False, True])
def test_isotropic_mixture_matches_scipy_and_autograd_of_the_plain_formula(stacked):
    # The isotropic path expands |x - mu|^2; check it against scipy and its score against the textbook formula's.
    mixtures = three_mixtures()
    X = (4 * torch.randn(3, 30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))).requires_grad_()
    ours = three_mixtures(stacked=True)(X) if stacked else torch.stack([m(X[k]) for k, m in enumerate(mixtures)])
    for k, m in enumerate(mixtures):
        assert m.variance is not None
        dens = sum(
            w * multivariate_normal(mu, 0.5).pdf(X[k].detach().numpy())
            for w, mu in zip(m.weights.tolist(), m.means.numpy(), strict=True)
        )
        torch.testing.assert_close(ours[k], torch.as_tensor(dens).log(), rtol=1e-12, atol=1e-12)
    plain = torch.stack(
        [
            torch.logsumexp(
                m.weights.log()[:, None] - ((X[k] - m.means[:, None]) ** 2).sum(-1) - torch.log(torch.tensor(torch.pi)),
                0,
            )
            for k, m in enumerate(mixtures)
        ]
    )
    (g_ours,) = torch.autograd.grad(ours.sum(), X)
    (g_plain,) = torch.autograd.grad(plain.sum(), X)
    torch.testing.assert_close(g_ours, g_plain, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradgradcheck(mixtures[0], (X[0].detach()[:5].requires_grad_(),))


def test_batched_scores_equal_list_scores(device):
    X = torch.randn(30, 2, dtype=torch.float64, device=device) * 3
    logp, S = stein_mo.scores(three_mixtures(), X)
    logp_b, S_b = stein_mo.scores(three_mixtures(stacked=True), X)
    torch.testing.assert_close(logp_b, logp, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(S_b, S, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("sampler", [stein_mo.MTSGD, stein_mo.MOOSVGD])
def test_batched_run_equals_list_run(sampler):
    x0 = 5 * torch.randn(25, 2, dtype=torch.float64)
    a = sampler(three_mixtures()).run(x0, 100, lr=3e-2)
    b = sampler(three_mixtures(stacked=True)).run(x0, 100, lr=3e-2)
    torch.testing.assert_close(b.particles, a.particles, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(b.history["weights"], a.history["weights"], rtol=1e-8, atol=1e-8)


def test_batched_target_errors():
    def bad(x):  # claims 3 targets but returns one row
        return -(x**2).sum(-1)[0]

    bad.num_targets = 3
    with pytest.raises(ValueError, match=r"batched target returned log densities of shape \(10,\), expected \(3, 10\)"):
        stein_mo.MTSGD(bad).run(torch.randn(10, 2), 1)

    def nan_in_second(x):
        out = -(x**2).sum(-1)
        return torch.stack([out[0], out[1] * torch.nan, out[2]])

    nan_in_second.num_targets = 3
    nan_in_second.names = ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"target 1 \(b\): 10 of 10 particles"):
        stein_mo.MTSGD(nan_in_second).run(torch.randn(10, 2), 1)

    not_int = lambda x: x.sum(-1)  # noqa: E731
    not_int.num_targets = 2.5
    with pytest.raises(TypeError, match="positive integer num_targets"):
        stein_mo.MTSGD(not_int)
    with pytest.raises(ValueError, match="equal"):
        GaussianMixture.stack([GaussianMixture([[0.0]], [1.0]), GaussianMixture([[0.0, 1.0]], [1.0])])
    with pytest.raises(ValueError, match=r"expects particles of shape \(M, 2\) or \(3, M, 2\)"):
        three_mixtures(stacked=True)(torch.randn(2, 5, 2))
