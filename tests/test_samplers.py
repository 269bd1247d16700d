"""SVGD, MT-SGD and MOO-SVGD: closed-form checks, reductions, the run loop, resume and bad input."""

import math

import pytest
import torch
from conftest import gaussian

import stein_mo
from stein_mo.stein import _directions


def sgd_step(sampler, x0, lr=0.1):
    return sampler.run(x0, 1, optimizer="sgd", lr=lr).particles


def test_sgd_step_is_x_plus_lr_phi():
    x0 = torch.randn(12, 2, dtype=torch.float64)
    target = gaussian([1.0, -1.0])
    phi = stein_mo.stein_directions(x0, (-(x0 - torch.tensor([1.0, -1.0], dtype=torch.float64)))[None])[0]
    torch.testing.assert_close(sgd_step(stein_mo.SVGD(target), x0, 0.1), x0 + 0.1 * phi, rtol=0, atol=1e-15)


def test_mtsgd_k1_is_exactly_svgd():
    x0 = torch.randn(20, 3, dtype=torch.float64)
    t = gaussian([0.5, 0.0, -0.5])
    a = stein_mo.SVGD(t).run(x0, 50, lr=0.05).particles
    b = stein_mo.MTSGD([t]).run(x0, 50, lr=0.05).particles
    assert torch.equal(a, b)


@pytest.mark.parametrize("gramian", ["exact", "normalized"])
def test_mtsgd_identical_targets_is_svgd(gramian):
    x0 = torch.randn(20, 2, dtype=torch.float64)
    t = gaussian([1.0, 2.0])
    a = stein_mo.SVGD(t).run(x0, 30, optimizer="sgd", lr=0.05).particles
    b = stein_mo.MTSGD([t, t, t], gramian=gramian).run(x0, 30, optimizer="sgd", lr=0.05).particles
    torch.testing.assert_close(a, b, rtol=0, atol=1e-13)


def test_mtsgd_direction_satisfies_lemma_1():
    # <phi*, phi_k>_H >= ||phi*||_H^2 for every k, evaluated with the exact Gramian.
    X = torch.randn(25, 2, dtype=torch.float64) * 3
    targets = stein_mo.problems.three_mixtures()
    _, S = stein_mo.scores(targets, X)
    U = stein_mo.stein_gramian(X, S)
    w = stein_mo.min_norm_weights(U)
    assert ((U @ w) >= w @ U @ w - 1e-12).all()


def test_moosvgd_matches_per_particle_loop():
    X = torch.randn(10, 2, dtype=torch.float64) * 2
    targets = [gaussian([1.0, 0.0]), gaussian([0.0, 1.0]), gaussian([-1.0, -1.0])]
    _, S = stein_mo.scores(targets, X)
    terms = stein_mo.RBF()(X)
    g = []
    for a in range(10):  # the reference code's loop, one QP per particle
        Sa = S[:, a]
        w = stein_mo.min_norm_weights(Sa @ Sa.T, backend="cvxpy")
        g.append(w @ Sa)
    ref = _directions(terms, terms.matrix @ torch.stack(g)[None])[0]
    phi, _ = stein_mo.MOOSVGD(targets).direction(terms, S)
    torch.testing.assert_close(phi, ref, rtol=1e-6, atol=1e-8)


def test_svgd_recovers_2d_gaussian():
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    cov = torch.tensor([[1.0, 0.6], [0.6, 0.8]], dtype=torch.float64)
    x0 = torch.randn(200, 2, dtype=torch.float64)
    r = stein_mo.SVGD(gaussian(mean, torch.linalg.inv(cov))).run(x0, 1500, lr=0.05)
    assert (r.particles.mean(0) - mean).abs().max() < 0.05
    assert (torch.cov(r.particles.T) - cov).abs().max() < 0.1


def test_svgd_variance_shrinks_with_dimension():
    # Measured behaviour (docs/maths.rst): with M = 100 and the median heuristic, the per-coordinate variance on
    # N(0, I_d) is ~0.97 at d = 1, ~0.44 at d = 10 and ~0.09 at d = 50.
    var = {}
    for d in (1, 10, 50):
        x0 = torch.randn(100, d, dtype=torch.float64) * 2 + 1
        var[d] = stein_mo.SVGD(gaussian(torch.zeros(d))).run(x0, 1000, lr=0.05).particles.var(0).mean().item()
    assert var[1] > 0.9
    assert 0.3 < var[10] < 0.6
    assert var[50] < 0.15


def test_history_contents():
    targets = [gaussian([1.0, 0.0]), gaussian([0.0, 1.0])]
    r = stein_mo.MTSGD(targets).run(torch.randn(10, 2), 7, ksd=True)
    h = r.history
    assert h["weights"].shape == (7, 2) and torch.allclose(h["weights"].sum(1), torch.ones(7))
    assert h["bandwidth"].shape == (7,) and h["step_norm"].shape == (7,) and h["ksd"].shape == (7, 2)
    assert h["log_density"].shape == (7, 2)
    assert "ksd" not in stein_mo.SVGD(targets[0]).run(torch.randn(10, 2), 2).history


def test_ksd_history_equals_ksd_function():
    t = gaussian([0.0, 0.0])
    x0 = torch.randn(15, 2, dtype=torch.float64)
    r = stein_mo.SVGD(t).run(x0, 1, ksd=True)
    torch.testing.assert_close(r.history["ksd"][0, 0], stein_mo.ksd(x0, -x0))


@pytest.mark.parametrize("cls", [stein_mo.SVGD, stein_mo.MTSGD, stein_mo.MOOSVGD])
def test_resume_is_bit_identical(cls, tmp_path):
    targets = [gaussian([1.0, 0.0]), gaussian([0.0, 1.0])]
    sampler = cls(targets[0]) if cls is stein_mo.SVGD else cls(targets)
    x0 = torch.randn(16, 2, dtype=torch.float64)
    straight = sampler.run(x0, 40, lr=0.05)
    sampler.run(x0, 20, lr=0.05, checkpoint=tmp_path / "ck.pt")
    resumed = sampler.run(stein_mo.SamplerState.load(tmp_path / "ck.pt"), 20)
    assert torch.equal(straight.particles, resumed.particles)
    assert resumed.state.step == 40 and resumed.history["step_norm"].shape == (40,)
    torch.testing.assert_close(resumed.history["bandwidth"], straight.history["bandwidth"], rtol=0, atol=0)


def test_checkpoint_every(tmp_path):
    path = tmp_path / "ck.pt"
    seen = []
    stein_mo.SVGD(gaussian([0.0])).run(
        torch.randn(5, 1),
        10,
        checkpoint=path,
        checkpoint_every=3,
        callback=lambda s, i: seen.append(path.exists()) and None,
    )
    assert seen[:3] == [False, False, True]
    assert stein_mo.SamplerState.load(path).step == 10


def test_resume_with_wrong_sampler(tmp_path):
    stein_mo.SVGD(gaussian([0.0])).run(torch.randn(5, 1), 2, checkpoint=tmp_path / "ck.pt")
    with pytest.raises(ValueError, match="produced by SVGD"):
        stein_mo.MOOSVGD([gaussian([0.0])]).run(stein_mo.SamplerState.load(tmp_path / "ck.pt"), 1)


def test_seeded_runs_reproduce():
    def go():
        g = torch.Generator().manual_seed(3)
        return (
            stein_mo.MOOSVGD(stein_mo.problems.three_mixtures()).run(5 * torch.randn(20, 2, generator=g), 50).particles
        )

    assert torch.equal(go(), go())


@pytest.mark.parametrize(
    "opt,lr", [("adam", 0.1), ("sgd", 0.1), ("adagrad", 1.0), ("rmsprop", 0.01), (torch.optim.AdamW, 0.1)]
)
def test_optimizers(opt, lr):
    r = stein_mo.SVGD(gaussian([3.0])).run(torch.randn(30, 1), 400, optimizer=opt, lr=lr)
    assert abs(r.particles.mean().item() - 3.0) < 0.3


@pytest.mark.parametrize("kwargs", [{}, {"weight_decay": 0.1, "betas": (0.5, 0.9)}, {"maximize": True}])
def test_direct_fused_adam_is_bit_identical_to_torch_optim(device, kwargs):
    from stein_mo.samplers.base import _optimizer_step

    X0 = torch.randn(40, 3, device=device)
    a, b = X0.clone().requires_grad_(), X0.clone().requires_grad_()
    opt_a = torch.optim.Adam([a], lr=0.05, fused=True, **kwargs)
    opt_b = torch.optim.Adam([b], lr=0.05, fused=True, **kwargs)
    for _ in range(20):
        g = torch.randn(40, 3, device=device)
        a.grad, b.grad = g.clone(), g.clone()
        opt_a.step()
        _optimizer_step(opt_b)
    assert torch.equal(a, b)
    for key in ("step", "exp_avg", "exp_avg_sq"):
        assert torch.equal(opt_a.state[a][key], opt_b.state[b][key])
    calls = []  # an optimizer with a hook, or under a scheduler, takes torch.optim's own path
    opt_b.register_step_post_hook(lambda *_: calls.append(1))
    b.grad = torch.randn(40, 3, device=device)
    _optimizer_step(opt_b)
    assert calls == [1]


def test_callback_stops_the_run():
    r = stein_mo.SVGD(gaussian([0.0])).run(torch.randn(5, 1), 100, callback=lambda s, i: s.step >= 4)
    assert r.state.step == 4


def test_step_interface():
    sampler = stein_mo.MTSGD([gaussian([1.0]), gaussian([-1.0])])
    state = sampler.init(torch.randn(10, 1), optimizer="sgd", lr=0.1)
    for _ in range(3):
        info = sampler.step(state)
    assert state.step == 3 and info["weights"].shape == (2,)


def test_progress_bar_runs(capsys):
    stein_mo.SVGD(gaussian([0.0])).run(torch.randn(5, 1), 3, progress=True)
    assert "SVGD" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_runs_on_input_device_and_dtype(device, dtype):
    x0 = torch.randn(20, 2, device=device, dtype=dtype)
    for sampler in (
        stein_mo.MTSGD(stein_mo.problems.three_mixtures()),
        stein_mo.MOOSVGD(stein_mo.problems.three_mixtures()),
    ):
        r = sampler.run(x0, 5)
        assert r.particles.device.type == device.type and r.particles.dtype == dtype


# ------------------------------------------------------------------------------------------------ bad input
def test_errors():
    t = gaussian([0.0, 0.0])
    with pytest.raises(ValueError, match="at least 2 particles"):
        stein_mo.SVGD(t).run(torch.randn(1, 2), 1)
    with pytest.raises(ValueError, match=r"shape \(M, d\)"):
        stein_mo.SVGD(t).run(torch.randn(5), 1)
    with pytest.raises(ValueError, match=r"identical particles: 1 pair.*rows 1 and 3"):
        x = torch.randn(5, 2)
        x[3] = x[1]
        stein_mo.SVGD(t).run(x, 1)
    with pytest.raises(ValueError, match="non-finite values in 1 of 5"):
        x = torch.randn(5, 2)
        x[2, 1] = math.inf
        stein_mo.SVGD(t).run(x, 1)
    with pytest.raises(ValueError, match="at least one target"):
        stein_mo.MTSGD([])
    with pytest.raises(TypeError, match="not callable"):
        stein_mo.MTSGD([t, 3])
    with pytest.raises(ValueError, match="gramian"):
        stein_mo.MTSGD([t], gramian="approx")
    with pytest.raises(ValueError, match="unknown optimizer"):
        stein_mo.SVGD(t).run(torch.randn(5, 2), 1, optimizer="lbfgs2")
    with pytest.raises(TypeError, match="kernel"):
        stein_mo.SVGD(t, kernel="rbf")
    with pytest.raises(ValueError, match="steps"):
        stein_mo.SVGD(t).run(torch.randn(5, 2), -1)


def test_dimension_mismatch_is_named():
    p = stein_mo.problems.GaussianMixture([[0.0, 0.0]], [1.0])
    with pytest.raises(ValueError, match=r"expects particles of shape \(M, 2\)"):
        stein_mo.SVGD(p).run(torch.randn(5, 3), 1)


def test_nan_density_midway_names_target():
    def blows_up(x):  # pulls particles towards 5, and is NaN beyond x = 1.5
        logp = -((x - 5.0) ** 2).sum(-1)
        return logp + torch.where(x[:, 0] > 1.5, torch.tensor(float("nan"), dtype=x.dtype), torch.zeros_like(logp))

    x0 = torch.linspace(-1, 1, 6)[:, None].double()
    with pytest.raises(ValueError, match=r"target 1 \(blows_up\): \d of 6 particles"):
        stein_mo.MTSGD([gaussian([5.0]), blows_up]).run(x0, 500, optimizer="sgd", lr=0.05)
