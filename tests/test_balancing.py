"""Loss balancing (UW, DWA, GLS, STCH, IMTL-L), GradNorm, MoCo and RotoGrad against their defining equations."""

import math

import pytest
import torch

import stein_mo
from stein_mo.weighting import DWA, GLS, IMTLL, STCH, UW, GradNorm, MoCo, RotoGrad, project_simplex

L = torch.tensor([0.5, 2.0, 8.0])


def fit(module, steps=2000, lr=0.05):
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        module(L).backward()
        opt.step()


def test_uw_learns_log_variances_equal_to_the_losses():
    uw = UW(3)
    fit(uw)  # d/ds (e^-s L + s)/2 = 0 at s = log L
    torch.testing.assert_close(uw.log_var.detach(), L.log(), atol=1e-3, rtol=0)


def test_imtll_equalises_the_scaled_losses():
    imtl = IMTLL(3)
    fit(imtl)  # d/ds (e^s L - s) = 0 at e^s L = 1
    torch.testing.assert_close(torch.exp(imtl.s.detach()) * L, torch.ones(3), atol=1e-3, rtol=0)


def test_gls_is_the_geometric_mean_and_its_gradient():
    losses = L.clone().requires_grad_(True)
    value = GLS()(losses)
    assert value.item() == pytest.approx(2.0)  # (0.5 * 2 * 8)^(1/3)
    (g,) = torch.autograd.grad(value, losses)
    torch.testing.assert_close(g, value.detach() / (3 * L))
    with pytest.raises(ValueError, match="positive"):
        GLS()(torch.tensor([1.0, 0.0]))


def test_dwa_weights_follow_eq_7():
    dwa = DWA(T=2.0)
    torch.testing.assert_close(dwa.weights(3), torch.ones(3))  # first two epochs: 1
    dwa.update(torch.tensor([1.0, 2.0, 4.0]))
    torch.testing.assert_close(dwa.weights(3), torch.ones(3))
    dwa.update(torch.tensor([0.5, 2.0, 2.0]))
    r = torch.tensor([0.5, 1.0, 0.5])
    expected = 3 * torch.exp(r / 2) / torch.exp(r / 2).sum()
    torch.testing.assert_close(dwa.weights(3), expected)
    assert dwa(torch.tensor([1.0, 1.0, 1.0])).item() == pytest.approx(3.0)


def test_stch_warmup_nadir_and_smooth_max():
    stch = STCH(mu=0.1, warmup=3, window=2)
    for losses in ([9.0, 9.0], [1.0, 4.0], [3.0, 2.0]):  # the nadir averages the last two: (2, 3)
        value = stch(torch.tensor(losses))
        assert value.item() == pytest.approx(math.log(losses[0]) + math.log(losses[1]))
    assert stch.nadir is None  # fixed at the first call after the warm-up
    y = torch.log(torch.tensor([4.0, 3.0]) / torch.tensor([2.0, 3.0]))
    assert stch(torch.tensor([4.0, 3.0])).item() == pytest.approx(2 * 0.1 * torch.logsumexp(y / 0.1, 0).item())
    torch.testing.assert_close(stch.nadir, torch.tensor([2.0, 3.0]))
    # as mu -> 0 the scalarisation tends to K max_k log(L_k / nadir_k)
    sharp = STCH(mu=1e-4, warmup=1, window=1)
    sharp(torch.tensor([2.0, 3.0]))
    assert sharp(torch.tensor([4.0, 3.0])).item() == pytest.approx(2 * math.log(2.0), rel=1e-3)


def test_gradnorm_gradient_and_renormalisation():
    torch.manual_seed(0)
    W = torch.nn.Parameter(torch.randn(4, 3))
    x = torch.randn(16, 3)
    heads = torch.randn(3, 4)
    gn = GradNorm(3, alpha=1.5)
    with torch.no_grad():
        gn.weights.copy_(torch.tensor([0.5, 1.0, 1.5]))
    losses = ((x @ W.T) @ heads.T).pow(2).mean(0) * torch.tensor([1.0, 2.0, 3.0])
    gn(losses, [W])
    # brute force: norms by separate backward calls, the same targets held constant
    norms = torch.stack([torch.autograd.grad(losses[k], W, retain_graph=True)[0].norm() for k in range(3)])
    w = gn.weights.detach().clone().requires_grad_(True)
    r = torch.ones(3)  # first call: L / L(0) = 1
    target = ((w * norms).mean() * r**1.5).detach()
    (expected,) = torch.autograd.grad((w * norms - target).abs().sum(), w)
    torch.testing.assert_close(gn.weights.grad, expected)
    with torch.no_grad():
        gn.weights.sub_(0.1 * gn.weights.grad)
    gn.renormalize()
    assert gn.weights.sum().item() == pytest.approx(3.0)


def test_project_simplex_matches_cvxpy():
    cp = pytest.importorskip("cvxpy")
    g = torch.Generator().manual_seed(0)
    V = 3 * torch.randn(20, 5, generator=g, dtype=torch.float64)
    P = project_simplex(V)
    for v, p in zip(V, P, strict=True):
        x = cp.Variable(5)
        cp.Problem(cp.Minimize(cp.sum_squares(x - v.numpy())), [x >= 0, cp.sum(x) == 1]).solve()
        torch.testing.assert_close(p, torch.as_tensor(x.value), atol=1e-6, rtol=0)


def test_moco_tracks_gradients_and_converges_to_mgda():
    g = torch.Generator().manual_seed(1)
    J = torch.randn(3, 6, generator=g, dtype=torch.float64)
    moco = MoCo(beta=0.2, gamma=0.5)
    for t in range(3000):
        noisy = J + 0.05 * torch.randn(3, 6, generator=g, dtype=torch.float64) / (1 + t) ** 0.25
        d = moco(noisy)
    exact = stein_mo.aggregate(J, "mgda")
    assert (d - exact).norm() / exact.norm() < 0.05  # stochastic: close, not exact
    moco.reset()
    assert moco._Y is None


def test_rotograd_magnitudes_directions_and_orthogonality():
    torch.manual_seed(0)
    backbone = torch.nn.Linear(5, 4)
    roto = RotoGrad(dim=4, num_tasks=2)
    heads = [torch.nn.Linear(4, 1) for _ in range(2)]
    x, y = torch.randn(32, 5), torch.randn(32, 2)
    with torch.no_grad():
        roto.A.normal_()
    R = roto.rotations()
    torch.testing.assert_close(R @ R.mT, torch.eye(4).expand(2, 4, 4), atol=1e-5, rtol=0)

    def losses_and_z():
        z = backbone(x)
        r = roto(z)
        return torch.stack([((h(r[k])[:, 0] - y[:, k]) ** 2).mean() for k, h in enumerate(heads)]), z

    losses, z = losses_and_z()
    G = torch.stack([torch.autograd.grad(losses[k], z, retain_graph=True)[0] for k in range(2)])
    U = G / G.flatten(1).norm(dim=1)[:, None, None]
    C = G.flatten(1).norm(dim=1).mean()  # first call: every G_k is its own G_k^0, so alpha = 1/K
    expected = torch.autograd.grad(z, backbone.weight, grad_outputs=C * U.sum(0), retain_graph=True)[0]
    roto.backward(losses, z, [p for h in heads for p in h.parameters()])
    torch.testing.assert_close(backbone.weight.grad, expected, rtol=1e-5, atol=1e-6)
    assert heads[0].weight.grad is not None and roto.A.grad is not None

    # descending the rotation loss aligns the rotated task gradients with their mean direction
    def alignment():
        losses, z = losses_and_z()
        G = torch.stack([torch.autograd.grad(losses[k], z, retain_graph=True)[0] for k in range(2)])
        Gt = G @ roto.rotations().detach().mT  # gradients w.r.t. the rotated features
        return torch.nn.functional.cosine_similarity(Gt[0].flatten(), Gt[1].flatten(), 0).item()

    before = alignment()
    opt = torch.optim.SGD(roto.parameters(), lr=0.05)
    for _ in range(50):
        opt.zero_grad()
        backbone.zero_grad()
        losses, z = losses_and_z()
        roto.backward(losses, z)
        opt.step()
    assert alignment() > before


def test_moco_is_not_weighted():
    # documented weighted = False: the tracked gradients Y mix earlier Jacobians, so Y^T lambda leaves span(J)
    moco = MoCo(beta=0.5, gamma=0.1)
    moco(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64))
    J = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    d = moco(J)
    coef = torch.linalg.lstsq(J.T, d[:, None]).solution
    assert (J.T @ coef[:, 0] - d).norm() > 0.1 * d.norm()
