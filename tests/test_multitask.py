"""Multi-task ensembles: every method's update against an independent computation on M separate networks."""

import copy
import json
import math
import sys
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from stein_mo.cli import main
from stein_mo.ensembles import (
    BALANCERS,
    METHODS,
    MOOSVGDEnsemble,
    MTSGDEnsemble,
    MultiTaskEnsemble,
    ParetoMTL,
    evaluate,
    fit,
    get_method,
    lenet,
    mlp,
    preference_vectors,
)
from stein_mo.kernels import RBF
from stein_mo.weighting import WEIGHTINGS, GradNorm, aggregate, get_weighting

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from loop_mtsgd import loop_mtsgd_step

M, K, B = 4, 2, 6


def small_model(shared=True, K=K, dtype=torch.float64):
    def enc():
        return nn.Sequential(nn.Conv2d(1, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5), nn.Tanh()).to(dtype)

    def head():
        return nn.Linear(5, 3).to(dtype)

    return MultiTaskEnsemble(enc, [head] * K, M, shared=shared)


def members(model):
    """The ensemble as M separate ordinary networks: (encoders, heads[m][k])."""
    encs = [model.encoder.member(m) for m in range(model.encoder.num_particles)]
    heads = [[h.member(m) for h in model.heads] for m in range(model.num_particles)]
    return encs, heads


def batch(K=K, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, 1, 6, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (B, K), generator=g)


def flat_grads(model):
    return [p.grad.clone() for p in model.parameters()]


def sgd_step(model, method, x, y, lr=0.1):
    method.num_data = 100
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    method.step(model, x, y, opt)
    opt.step()
    opt.zero_grad(set_to_none=True)


def assert_same_params(model, encs, heads, rtol=1e-6):
    for m, enc in enumerate(encs):
        for p, q in zip(model.encoder.params, enc.parameters(), strict=True):
            torch.testing.assert_close(p[m].detach(), q.detach(), rtol=rtol, atol=1e-9)
    for m, row in enumerate(heads):
        for k, h in enumerate(row):
            for p, q in zip(model.heads[k].params, h.parameters(), strict=True):
                torch.testing.assert_close(p[m].detach(), q.detach(), rtol=rtol, atol=1e-9)


def test_multitask_forward_and_gradients_equal_separate_networks():
    torch.manual_seed(0)
    model = small_model()
    encs, heads = members(model)
    x, y = batch()
    outs = model(x)
    L = torch.stack([F.cross_entropy(o.reshape(M * B, 3), y[:, k].repeat(M)) for k, o in enumerate(outs)]).sum()
    grads = torch.autograd.grad(L * M, list(model.parameters()))
    for m in range(M):
        z = encs[m](x)
        loss = sum(F.cross_entropy(heads[m][k](z), y[:, k]) for k in range(K))
        ref = torch.autograd.grad(loss, [*encs[m].parameters(), *[p for h in heads[m] for p in h.parameters()]])
        for g, r in zip(grads, ref, strict=True):
            torch.testing.assert_close(g[m], r, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    "options",
    [{}, {"gramian": "features"}, {"kernel_on": "parameters"}, {"gramian": "features", "kernel_on": "parameters"}],
)
def test_mtsgd_one_task_vanishing_bandwidth_is_independent_gradient_descent(options):
    """K = 1, sigma -> 0: k_ab = delta_ab and no repulsion, so every member takes its own gradient steps (heads,
    then the encoder given the new heads), exactly as M separate networks trained by plain SGD."""
    torch.manual_seed(1)
    model = small_model(K=1)
    encs, heads = members(model)
    method = MTSGDEnsemble(kernel=RBF(sigma=1e-8), temperature=5.0, **options)
    for seed in range(3):
        x, y = batch(K=1, seed=seed)
        sgd_step(model, method, x, y)
        for m in range(M):
            z = encs[m](x)
            h = heads[m][0]
            g = torch.autograd.grad(F.cross_entropy(h(z.detach()), y[:, 0]), list(h.parameters()))
            with torch.no_grad():
                for p, gp in zip(h.parameters(), g, strict=True):
                    p -= 0.1 * gp
            g = torch.autograd.grad(F.cross_entropy(h(z), y[:, 0]), list(encs[m].parameters()))
            with torch.no_grad():
                for p, gp in zip(encs[m].parameters(), g, strict=True):
                    p -= 0.1 * gp
    assert_same_params(model, encs, heads)


@pytest.mark.parametrize("kernel_on", ["outputs", "parameters"])
@pytest.mark.parametrize("gramian", ["parameters", "features"])
def test_mtsgd_equals_per_particle_loop_implementation(gramian, kernel_on):
    """The vectorised update against benchmarks/loop_mtsgd.py (reference-code structure, shared code: none), with
    the reference Gramian on encoder gradients and with the one on feature gradients, kernels on outputs or on
    parameters."""
    torch.manual_seed(2)
    model = small_model()
    encs, heads = members(model)
    method = MTSGDEnsemble(temperature=30.0, gramian=gramian, kernel_on=kernel_on)  # tau = 0.3: drift ~ repulsion
    for seed in range(3):
        x, y = batch(seed=seed)
        sgd_step(model, method, x, y)
        loop_mtsgd_step(encs, heads, x, y, lr=0.1, tau=0.3, gramian=gramian, kernel_on=kernel_on)
    assert_same_params(model, encs, heads)


@pytest.mark.parametrize("K", [3, 7])
def test_loop_peer_min_norm_solver_matches_cvxpy(K):
    """The peer's projected-gradient solver (K > 2, timing only) reaches cvxpy's min of w^T Q w over the simplex."""
    cp = pytest.importorskip("cvxpy")
    from loop_mtsgd import min_norm_weights

    A = torch.randn(K, 4, generator=torch.Generator().manual_seed(K), dtype=torch.float64)
    Q = A @ A.T  # rank 4 < 7: a face of the simplex, not a vertex, is optimal
    w = min_norm_weights(Q)
    v = cp.Variable(K)
    best = cp.Problem(cp.Minimize(cp.quad_form(v, cp.psd_wrap(Q.numpy()))), [v >= 0, cp.sum(v) == 1]).solve()
    assert w.min() >= 0 and abs(float(w.sum()) - 1) < 1e-12
    assert float(w @ Q @ w) == pytest.approx(best, rel=1e-4, abs=1e-8)


def test_moo_svgd_with_vanishing_bandwidth_is_the_mgda_ensemble():
    torch.manual_seed(3)
    a = small_model()
    b = copy.deepcopy(a)
    x, y = batch()
    sgd_step(a, MOOSVGDEnsemble(kernel=RBF(sigma=1e-8), temperature=3.0), x, y)
    sgd_step(b, get_method("mgda"), x, y)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["mgda", "upgrad", "nash"])
def test_weighted_ensemble_is_the_weighting_of_each_members_jacobian(name):
    """Encoder of member m: aggregate(J_m) by the weighting (checked against cvxpy in test_weighting); heads: own
    task's gradient."""
    torch.manual_seed(4)
    model = small_model()
    encs, heads = members(model)
    x, y = batch()
    get_method(name).step(model, x, y, None)
    for m in range(M):
        z = encs[m](x)
        losses = [F.cross_entropy(heads[m][k](z), y[:, k]) for k in range(K)]
        params = list(encs[m].parameters())
        J = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(L, params, retain_graph=True)])
                         for L in losses])  # fmt: skip
        got = torch.cat([p.grad[m].reshape(-1) for p in model.encoder.params])
        torch.testing.assert_close(got, aggregate(J, name), rtol=1e-6, atol=1e-10)
        for k in range(K):
            ref = torch.autograd.grad(losses[k], list(heads[m][k].parameters()), retain_graph=True)
            for p, r in zip(model.heads[k].params, ref, strict=True):
                torch.testing.assert_close(p.grad[m], r, rtol=1e-6, atol=1e-12)


def test_linear_scalarisation_and_deep_ensemble_gradients():
    torch.manual_seed(5)
    x, y = batch()
    for shared in (True, False):
        model = small_model(shared=shared)
        method = get_method("ls" if shared else "deep-ensemble")
        method.step(model, x, y, None)
        for m in range(M):
            for k in range(K):
                enc = model.encoder.member(m if shared else k * M + m)
                head = model.heads[k].member(m)
                loss = F.cross_entropy(head(enc(x)), y[:, k])
                ref = torch.autograd.grad(loss, list(head.parameters()))
                for p, r in zip(model.heads[k].params, ref, strict=True):
                    torch.testing.assert_close(p.grad[m], r, rtol=1e-6, atol=1e-12)
            if shared:  # encoder: gradient of the mean task loss
                enc = model.encoder.member(m)
                z = enc(x)
                loss = sum(F.cross_entropy(model.heads[k].member(m)(z), y[:, k]) for k in range(K)) / K
                ref = torch.autograd.grad(loss, list(enc.parameters()))
                for p, r in zip(model.encoder.params, ref, strict=True):
                    torch.testing.assert_close(p.grad[m], r, rtol=1e-6, atol=1e-12)
        if not shared:  # task k's encoders get task k's gradient only
            for k in range(K):
                for m in range(M):
                    enc, head = model.encoder.member(k * M + m), model.heads[k].member(m)
                    ref = torch.autograd.grad(F.cross_entropy(head(enc(x)), y[:, k]), list(enc.parameters()))
                    for p, r in zip(model.encoder.params, ref, strict=True):
                        torch.testing.assert_close(p.grad[k * M + m], r, rtol=1e-6, atol=1e-12)


def pareto_problem(seed, Mp=6, Kp=2):
    """Random per-member task gradients A (Mp, Kp, 7), their Gramians, losses and the preference vectors."""
    rng = np.random.default_rng(seed)
    A = torch.from_numpy(rng.normal(size=(Mp, Kp, 7)))
    L = torch.from_numpy(rng.uniform(0.2, 2.0, size=(Mp, Kp)))
    return A, A @ A.transpose(1, 2), L, preference_vectors(Kp, Mp)


def test_preference_vectors_spread_over_the_orthant():
    """Pareto MTL's rays for K > 2 (K = 7 is SARCOS): unit length, strictly positive, pairwise apart, deterministic;
    K = 2 keeps the paper's evenly spaced angles."""
    for K in (3, 7):
        u = preference_vectors(K, 8)
        torch.testing.assert_close(u.norm(dim=1), torch.ones(8, dtype=u.dtype))
        assert (u > 0).all() and torch.pdist(u).min() > 0.1
        torch.testing.assert_close(u, preference_vectors(K, 8))
    angles = torch.atan2(*preference_vectors(2, 5).T.flip(0))
    torch.testing.assert_close(angles, torch.linspace(0, math.pi / 2, 5, dtype=angles.dtype))


@pytest.mark.parametrize("Kp", [2, 3])
def test_pareto_mtl_weights_solve_the_constrained_min_norm_problem(Kp):
    """Against cvxpy on the paper's problem: only the active constraints, no batching trick."""
    Mp = 6
    A, G, L, u = pareto_problem(0, Mp, Kp)
    w = ParetoMTL(init_steps=0).member_weights(G, L)  # the main phase (the feasibility search is tested below)
    for m in range(Mp):
        g = A[m].numpy()
        gh = g / np.linalg.norm(g, axis=1, keepdims=True)
        Lh = (L[m] / L[m].norm()).numpy()
        D = (u - u[m]).numpy()
        active = [j for j in range(Mp) if D[j] @ Lh > 0]
        vecs = np.concatenate([gh, D[active] @ gh]) if active else gh
        lam = cp.Variable(len(vecs))
        cp.Problem(cp.Minimize(cp.sum_squares(vecs.T @ lam)), [lam >= 0, cp.sum(lam) == 1]).solve()
        c = lam.value[:Kp] + (lam.value[Kp:] @ D[active] if active else 0)
        ref = c / np.linalg.norm(g, axis=1)
        ref = ref / np.abs(ref).sum()
        # the min-norm direction is unique; compare directions (weights may differ only if the gradients are dependent)
        np.testing.assert_allclose(w[m].numpy() @ g, ref @ g, rtol=1e-4, atol=1e-6)


def test_pareto_mtl_feasibility_search():
    """The paper's search for a feasible start, against cvxpy: members with active constraints descend them alone
    (min-norm over (u_j - u_m)^T J for the active j, raw gradients); members without any use the main phase; a
    member leaves the search for good, and nobody searches after init_steps."""
    Mp, Kp = 6, 2
    A, G, L, u = pareto_problem(1, Mp, Kp)
    method = ParetoMTL(init_steps=3)
    w = method.member_weights(G, L)
    main = ParetoMTL(init_steps=0).member_weights(G, L)
    searching = []
    for m in range(Mp):
        g = A[m].numpy()
        D = (u - u[m]).numpy()
        active = [j for j in range(Mp) if D[j] @ (L[m] / L[m].norm()).numpy() > 0]
        if not active:
            torch.testing.assert_close(w[m], main[m])
            continue
        searching.append(m)
        vecs = D[active] @ g
        beta = cp.Variable(len(active))
        cp.Problem(cp.Minimize(cp.sum_squares(vecs.T @ beta)), [beta >= 0, cp.sum(beta) == 1]).solve()
        c = beta.value @ D[active]
        np.testing.assert_allclose(w[m].numpy() @ g, c @ g, rtol=1e-4, atol=1e-6)
    assert 0 < len(searching) < Mp  # both kinds of member occur here
    assert method.searching.tolist() == [m in searching for m in range(Mp)]
    # losses that make every constraint inactive: everyone leaves the search, and does not come back
    method.member_weights(G, torch.ones(Mp, Kp, dtype=torch.float64) * 1e-3 + u.abs())
    later = method.member_weights(G, L)
    torch.testing.assert_close(later, main)
    capped = ParetoMTL(init_steps=2)
    for _ in range(3):
        capped_w = capped.member_weights(G, L)
    torch.testing.assert_close(capped_w, main)  # the third step is past init_steps


def test_fit_resume_is_exact_and_selection_uses_validation(tmp_path):
    torch.manual_seed(6)
    x, y = torch.randn(48, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (48, K))
    val = (torch.randn(20, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (20, K)))
    base = small_model()
    opts = dict(val=val, batch_size=16, lr=1e-2, progress=False, schedule="step", milestones=(1, 2), warmup_epochs=1)
    straight = copy.deepcopy(base)
    r1 = fit(straight, "mt-sgd", (x, y), 3, **opts)
    ck = tmp_path / "ck.pt"
    part = copy.deepcopy(base)
    fit(part, "mt-sgd", (x, y), 2, checkpoint=ck, **opts)
    resumed = copy.deepcopy(base)  # a fresh process would rebuild the model: its weights come from the checkpoint
    r2 = fit(resumed, "mt-sgd", (x, y), 3, checkpoint=ck, resume=True, **opts)
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)
    assert r1.history == r2.history
    # selection: the returned model is the epoch with the lowest validation NLL
    sel = copy.deepcopy(base)
    r3 = fit(sel, "ls", (x, y), 4, select=True, **{k: v for k, v in opts.items() if k != "warmup_epochs"})
    scores = [np.mean([t["nll"] for t in h["val"]]) for h in r3.history]
    assert r3.best_epoch == int(np.argmin(scores)) + 1
    assert np.mean([t["nll"] for t in evaluate(sel, *val)]) == pytest.approx(min(scores), rel=1e-9)


@pytest.mark.parametrize("name", ["graddrop", "moco", "gradvac"])
def test_stateful_and_jacobian_weightings_are_batched_over_members(name):
    """GradDrop, MoCo (need J) and GradVac (stateful): all members in one call equal one instance per member, over
    two steps (the state carries over) with the same random draws."""
    torch.manual_seed(5)
    model = small_model()
    encs, heads = members(model)
    x, y = batch()
    method = get_method(name)
    J = []
    for m in range(M):
        z = encs[m](x)
        losses = [F.cross_entropy(heads[m][k](z), y[:, k]) for k in range(K)]
        params = list(encs[m].parameters())
        J.append(torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(L, params, retain_graph=True)])
                              for L in losses]))  # fmt: skip
    refs = [get_weighting(name) for _ in range(M)]
    for _ in range(2):
        rng = torch.get_rng_state()
        method.step(model, x, y, None)
        torch.set_rng_state(rng)  # the references draw the same numbers, member after member
        for m in range(M):
            got = torch.cat([p.grad[m].reshape(-1) for p in model.encoder.params])
            torch.testing.assert_close(got, aggregate(J[m], refs[m]), rtol=1e-6, atol=1e-10)


STATEFUL = ["moco", "gradvac", "uw", "gls", "dwa", "gradnorm", "stch", "pareto-mtl"]


@pytest.mark.parametrize("name", STATEFUL)
def test_resume_restores_a_stateful_weighting(tmp_path, name):
    options = {"warmup": 3, "window": 2} if name == "stch" else {}  # the nadir is set during the run
    torch.manual_seed(7)
    x, y = torch.randn(32, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (32, K))
    base, opts = small_model(), dict(batch_size=16, lr=1e-2, progress=False)
    straight, part, resumed = (copy.deepcopy(base) for _ in range(3))
    fit(straight, get_method(name, **options), (x, y), 3, **opts)
    fit(part, get_method(name, **options), (x, y), 2, checkpoint=tmp_path / "ck.pt", **opts)
    fit(resumed, get_method(name, **options), (x, y), 3, checkpoint=tmp_path / "ck.pt", resume=True, **opts)
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("name", ["uw", "imtll", "gls", "dwa", "stch"])
def test_loss_balanced_ensemble_equals_a_balancer_per_member(name):
    """All members at once = M separate networks, each with its own unbatched balancer on its own (K,) losses:
    gradients of encoder, heads and the learned scales, float64."""
    torch.manual_seed(8)
    model = small_model()
    encs, heads = members(model)
    x, y = batch()
    options = {"warmup": 1, "window": 1} if name == "stch" else {}
    method = get_method(name, **options)
    method.setup(model)
    learned = name in ("uw", "imtll")
    refs = [BALANCERS[name](K).double() if learned else BALANCERS[name](**options) for _ in range(M)]
    g = torch.Generator().manual_seed(0)
    if learned:  # scales away from their initial zeros, different per member
        scales = torch.randn(M, K, generator=g, dtype=torch.float64)
        with torch.no_grad():
            method.parameters()[0].copy_(scales)
            for row, ref in zip(scales, refs, strict=True):
                next(ref.parameters()).copy_(row)
    if name == "dwa":  # two epochs of history, different per member
        for h in torch.rand(2, M, K, generator=g, dtype=torch.float64) + 0.5:
            method.end_epoch(h)
            for row, ref in zip(h, refs, strict=True):
                ref.update(row)
    calls = 2 if name == "stch" else 1  # STCH: the first call is its warm-up (it records the nadir)
    for _ in range(calls):
        for p in [*model.parameters(), *method.parameters()]:
            p.grad = None
        method.step(model, x, y, None)
    for m, ref in enumerate(refs):
        z = encs[m](x)
        losses = torch.stack([F.cross_entropy(heads[m][k](z), y[:, k]) for k in range(K)])
        params = [*encs[m].parameters(), *[p for h in heads[m] for p in h.parameters()]]
        params += list(ref.parameters()) if learned else []
        for _ in range(calls):
            grads = torch.autograd.grad(ref(losses), params, retain_graph=True)
        got = [p.grad[m] for p in model.encoder.params]
        got += [p.grad[m] for h in model.heads for p in h.params]
        got += [p.grad[m] for p in method.parameters()]
        assert len(got) == len(grads)
        for a, b in zip(got, grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-12)


def test_gradnorm_ensemble_equals_gradnorm_per_member():
    """Per-member GradNorm weights, their gradients and the weighted loss's gradients = M separate networks, each
    with its own unbatched GradNorm on its last shared layer (the encoder's last weight matrix)."""
    torch.manual_seed(10)
    model = small_model()
    encs, heads = members(model)
    x, y = batch()
    method = get_method("gradnorm", alpha=1.5)
    method.setup(model)
    g = torch.Generator().manual_seed(1)
    weights = torch.rand(M, K, generator=g, dtype=torch.float64) + 0.5  # renormalised to sum K by the step
    initial = torch.rand(M, K, generator=g, dtype=torch.float64) + 1.0  # so that the training rates differ
    with torch.no_grad():
        method.balancer.weights.copy_(weights)
    method.balancer.initial_losses = initial.clone()
    method.step(model, x, y, None)
    for m in range(M):
        ref = GradNorm(K, alpha=1.5).double()
        with torch.no_grad():
            ref.weights.copy_(weights[m])
        ref.renormalize()
        ref.initial_losses = initial[m].clone()
        z = encs[m](x)
        losses = torch.stack([F.cross_entropy(heads[m][k](z), y[:, k]) for k in range(K)])
        w = ref(losses, [encs[m][-2].weight])  # the last Linear's weight
        torch.testing.assert_close(method.balancer.weights[m], ref.weights.detach(), rtol=1e-12, atol=0)
        torch.testing.assert_close(method.balancer.weights.grad[m], ref.weights.grad, rtol=1e-6, atol=1e-12)
        params = [*encs[m].parameters(), *[p for h in heads[m] for p in h.parameters()]]
        grads = torch.autograd.grad((w * losses).sum(), params)
        got = [p.grad[m] for p in model.encoder.params] + [p.grad[m] for h in model.heads for p in h.params]
        for a, b in zip(got, grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", sorted({*METHODS, *WEIGHTINGS, *BALANCERS, "gradnorm"}))
def test_every_method_trains_through_fit(name, device):
    """Every name get_method accepts takes real steps through fit on the model's device: finite losses, every
    member's parameters move and stay on that device (and the method's own learned weights with them)."""
    torch.manual_seed(11)
    x, y = torch.randn(32, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (32, K))
    method = get_method(name)
    model = small_model(shared=method.shared).to(device)
    before = [p.detach().clone() for p in model.parameters()]
    result = fit(model, method, (x, y), 1, batch_size=16, lr=1e-2, progress=False)
    assert np.isfinite(result.history[0]["train_loss"]).all()
    for p, q in zip(model.parameters(), before, strict=True):
        assert p.device.type == device.type
        assert (p.detach() - q).flatten(1).abs().amax(1).min() > 0, f"{name}: some member did not move"
    assert all(p.device.type == device.type for p in method.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["mt-sgd", "moo-svgd", "mgda", "upgrad", "pareto-mtl", "uw", "gradnorm"])
def test_a_step_on_cuda_equals_the_step_on_cpu(name):
    """One float64 SGD step on CUDA = the same step on CPU (all parameters after it, the method's own included), for
    the methods with the most device logic."""
    torch.manual_seed(12)
    x, y = batch()
    cpu_model = small_model()
    after = []
    for dev in ("cpu", "cuda"):
        model = copy.deepcopy(cpu_model).to(dev)
        method = get_method(name)
        method.num_data = 100
        method.setup(model)
        params = [*model.parameters(), *method.parameters()]
        opt = torch.optim.SGD(params, lr=0.1)
        method.step(model, x.to(dev), y.to(dev), opt)
        opt.step()
        after.append([p.detach().cpu() for p in params])
    for a, b in zip(*after, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-10)


def test_learned_task_scales_train_and_must_be_in_the_optimiser():
    torch.manual_seed(9)
    x, y = torch.randn(32, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (32, K))
    model, method = small_model(), get_method("uw")
    fit(model, method, (x, y), 2, batch_size=16, lr=1e-1, progress=False)
    scales = method.parameters()[0]
    assert scales.shape == (M, K) and scales.abs().min() > 0  # every member's every scale moved from 0
    other = get_method("uw")
    with pytest.raises(ValueError, match=r"method.parameters\(\)"):
        other.step(small_model(), x[:8], y[:8], torch.optim.SGD(model.parameters(), lr=0.1))


def test_bad_input_errors():
    model = small_model()
    x, y = batch()
    with pytest.raises(ValueError, match="unknown method"):
        get_method("bogus")
    with pytest.raises(TypeError, match="needs the Jacobian"):
        get_method("mt-sgd", weighting="moco")
    with pytest.raises(ValueError, match="shared=False"):
        fit(model, "deep-ensemble", (x, y), 1, progress=False)
    with pytest.raises(ValueError, match="labels must be"):
        fit(model, "ls", (x, y[:, :1]), 1, progress=False)
    with pytest.raises(ValueError, match="validation split"):
        fit(model, "ls", (x, y), 1, select=True, progress=False)
    with pytest.raises(FileNotFoundError):
        fit(model, "ls", (x, y), 1, resume=True, checkpoint="/nonexistent/ck.pt", progress=False)
    with pytest.raises(ValueError, match="num_data"):
        MTSGDEnsemble().step(model, x, y, torch.optim.SGD(model.parameters(), 0.1))
    with pytest.raises(FloatingPointError, match="non-finite"):
        fit(model, "ls", (x * float("nan"), y), 1, progress=False)
    with pytest.raises(ValueError, match="kernel_on"):
        MTSGDEnsemble(kernel_on="weights")
    with pytest.raises(ValueError, match="losses"):
        MultiTaskEnsemble(lambda: nn.Linear(2, 2), [lambda: nn.Linear(2, 2)], 3, losses="hinge")


def test_regression_ensemble_trains_and_reports_mse_and_gaussian_nll():
    torch.manual_seed(7)
    X = torch.randn(200, 4)
    Y = torch.stack([X[:, 0] - X[:, 1], X[:, 2] * 0.5], 1) + 0.05 * torch.randn(200, 2)
    enc, heads = mlp(4, 2, hidden=16)
    model = MultiTaskEnsemble(enc, heads, 3, losses="mse")
    before = evaluate(model, X, Y)
    fit(model, "mt-sgd", (X, Y), 30, batch_size=50, lr=1e-2, progress=False)
    after = evaluate(model, X, Y, noise_var=torch.tensor([0.0025, 0.0025]))
    for b, a in zip(before, after, strict=True):
        assert a["mse"] < 0.2 * b["mse"] and np.isfinite(a["gaussian_nll"])


def test_lenet_members_match_the_canvas_sizes():
    for size in (12, 36):
        enc, heads = lenet(size)
        assert enc()(torch.zeros(2, 1, size, size)).shape == (2, 50)
        assert heads[1]()(torch.zeros(2, 50)).shape == (2, 10)


def test_cli_mtl_smoke_and_resume(tmp_path, capsys):
    args = ["mtl", "--epochs", "1", "--method", "mt-sgd,ls", "--particles", "3", "--out", str(tmp_path)]
    args.append("--no-progress")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "mt-sgd" in out and "top-left" in out and "ece" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["methods"]) == {"mt-sgd", "ls"}
    for name in ("reliability_mt-sgd.png", "reliability_ls.png", "training_curves.png", "mt-sgd.pt"):
        assert (tmp_path / name).stat().st_size > 0
    # resume to two epochs: only the second epoch runs, the first is kept from the checkpoint
    args[2] = "2"
    assert main([*args, "--resume"]) == 0
    results2 = json.loads((tmp_path / "results.json").read_text())
    assert [h["epoch"] for h in results2["methods"]["ls"]["history"]] == [1, 2]
    assert results2["methods"]["ls"]["history"][0] == results["methods"]["ls"]["history"][0]
    assert main(["mtl", "--dataset", "multi-mnist"]) == 2
    assert "needs --data-dir" in capsys.readouterr().err


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data not present")
@pytest.mark.parametrize("dataset", ["multi-mnist", "sarcos"])
def test_cli_mtl_on_the_real_files(dataset, tmp_path, capsys):
    folder = SHARED / ("mnist" if dataset == "multi-mnist" else "sarcos")
    args = ["mtl", "--dataset", dataset, "--data-dir", str(folder), "--epochs", "1", "--method", "ls"]
    assert main([*args, "--particles", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    test = results["methods"]["ls"]["test"]
    if dataset == "multi-mnist":  # one epoch of two LeNets on 9,000 pairs already beats chance by far
        assert len(test) == 2 and all(t["accuracy"] > 0.5 for t in test)
    else:  # standardised torques: an ensemble mean better than predicting the training mean (MSE 1)
        assert len(test) == 7 and all(t["mse"] < 1.0 and np.isfinite(t["gaussian_nll"]) for t in test)
    assert ("top-left" if dataset == "multi-mnist" else "torque 7") in capsys.readouterr().out


def test_chunked_members_give_the_same_update():
    torch.manual_seed(8)
    a = small_model()
    b = MultiTaskEnsemble(lambda: nn.Linear(1, 1), [lambda: nn.Linear(1, 1)] * K, M, chunk_size=1)
    b.encoder, b.heads = copy.deepcopy(a.encoder), copy.deepcopy(a.heads)
    for part in [b.encoder, *b.heads]:
        part.chunk_size = 1
    x, y = batch()
    sgd_step(a, MTSGDEnsemble(temperature=30.0), x, y)
    sgd_step(b, MTSGDEnsemble(temperature=30.0), x, y)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="chunk_size"):
        MultiTaskEnsemble(lambda: nn.Linear(1, 1), [lambda: nn.Linear(1, 1)], 2, chunk_size=0)
