"""from_pyro + SVGD against pyro.infer.SVGD on a Bayesian logistic regression (issue: >= 3x, means within 5%).

800 points, 9 coefficients in one latent site, 100 particles, 300 Adam steps (lr 0.05), the same RBF kernel on
whole particle rows, the same starting particles. One thread; best of 3 after a warm-up, interleaved.
Run: ``python benchmarks/bench_pyro.py``.
"""

from __future__ import annotations

import json
import time

import pyro
import pyro.distributions as dist
import torch

import stein_mo

N, D, M, STEPS, LR = 800, 9, 100, 300, 0.05


def data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(N, D, generator=g)
    w = torch.randn(D, generator=g)
    y = torch.bernoulli(torch.sigmoid(X @ w), generator=g)
    return X, y


def model(X, y):
    w = pyro.sample("w", dist.Normal(torch.zeros(D), 1.0).to_event(1))
    with pyro.plate("data", len(y)):
        pyro.sample("y", dist.Bernoulli(logits=(X * w).sum(-1)), obs=y)  # (particles, N) under the particle plate


def time_ours(X, y, x0):
    target = stein_mo.from_pyro(model, X, y)
    t = time.perf_counter()
    result = stein_mo.SVGD(target).run(x0, STEPS, lr=LR)
    return time.perf_counter() - t, result.samples["w"]


def time_model_alone(X, y, x0):
    """The model's log joint and its gradient written in plain torch, the same arithmetic (the (M, N, D) product):
    a floor that neither library can go below, so pyro_time / this is the largest ratio any engine could show."""
    w = x0.clone().requires_grad_()
    prior = torch.distributions.Normal(0.0, 1.0)
    t = time.perf_counter()
    for _ in range(STEPS):
        logits = (X * w[:, None, :]).sum(-1)
        lp = prior.log_prob(w).sum(-1) - torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y.expand_as(logits), reduction="none"
        ).sum(-1)
        torch.autograd.grad(lp.sum(), w)
    return time.perf_counter() - t, None


def time_pyro(X, y, x0):
    pyro.clear_param_store()
    pyro.param("svgd_particles", x0.reshape(-1).clone())
    svgd = pyro.infer.SVGD(model, pyro.infer.RBFSteinKernel(), pyro.optim.Adam({"lr": LR}), M, 1, mode="multivariate")
    t = time.perf_counter()
    for _ in range(STEPS):
        svgd.step(X, y)
    elapsed = time.perf_counter() - t
    return elapsed, pyro.param("svgd_particles").detach().reshape(M, D)


def main():
    torch.set_num_threads(1)
    X, y = data()
    x0 = torch.randn(M, D, generator=torch.Generator().manual_seed(1))
    best, out = {}, {}
    for r in range(4):
        for name, fn in (("pyro", time_pyro), ("ours", time_ours), ("model", time_model_alone)):
            t, w = fn(X, y, x0)
            if r:
                best[name], out[name] = min(best.get(name, t), t), w
    mean_ours, mean_pyro = out["ours"].mean(0), out["pyro"].mean(0)
    rel = float((mean_ours - mean_pyro).norm() / mean_pyro.norm())
    print(f"Bayesian logistic regression: {N} points, {D} coefficients, {M} particles, {STEPS} Adam steps, 1 thread")
    print(f"  pyro.infer.SVGD        {best['pyro']:.3f} s  ({1e3 * best['pyro'] / STEPS:.2f} ms/step)")
    print(f"  from_pyro + SVGD       {best['ours']:.3f} s  ({1e3 * best['ours'] / STEPS:.2f} ms/step)")
    print(f"  model alone (log joint + gradient in plain torch) {best['model']:.3f} s")
    print(
        f"  ratio {best['pyro'] / best['ours']:.2f}x  (issue asks >= 3x; no engine can exceed pyro / model alone = "
        f"{best['pyro'] / best['model']:.2f}x here)"
    )
    engine_pyro, engine_ours = best["pyro"] - best["model"], best["ours"] - best["model"]
    print(
        f"  time outside the model: pyro {engine_pyro:.3f} s, ours {engine_ours:.3f} s, "
        f"ratio {engine_pyro / engine_ours:.2f}x"
    )
    print(f"  posterior means: |ours - pyro| / |pyro| = {rel:.2%}  (issue asks <= 5%)")
    print(json.dumps({"pyro_s": best["pyro"], "ours_s": best["ours"], "model_s": best["model"], "mean_rel_diff": rel}))


if __name__ == "__main__":
    main()
