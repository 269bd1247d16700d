"""Where a small step's time goes, and the two CPU choices made for it, each against its alternative in one run.

1. One SVGD and one MT-SGD (K = 3, batched target) step on the benchmark's mixtures, M = 50: the time of each part
   measured inside the real step (the parts are wrapped with timers; "rest" is the step minus the parts).
2. The median heuristic's selection: one ``numpy.partition`` position plus the minimum of the rest (what
   ``stein_mo.kernels`` does) against asking ``numpy.partition`` for both middle positions at once.
3. One K <= 4 simplex QP on CPU: the Python-float enumeration (what a single Gramian gets) against the batched
   tensor path (what a batch gets), on the same Gramian.
4. 2×2 max-pooling of an NCHW tensor against the same pooling in channels-last layout (the multi-task LeNet's
   first pooling layer, batch 128 × 5 members × 10 channels on 12×12 inputs).
5. Four small forms chosen for the step, each against the form it replaced, on the same inputs:
   the per-target particle copies (``expand().contiguous()`` against ``repeat``), the isotropic mixture's logits
   with their backward (``baddbmm`` against a product and an add), an ensemble's Gramian
   Q_ij = sum_ab k_ab <C_i(a), C_j(b)> on (2, 5, 16384) (two matmuls against a
   three-way ``einsum``), and the per-task gradients with respect to an ensemble's features through K = 7 linear
   heads (one leaf per head on the features' storage against one (K, M, B, F) copy whose slices the heads read:
   each slice's backward fills a zero (K, M, B, F) gradient).
6. Why vectorising members does not pay on one CPU thread, on the ensembles' own shapes: five LeNet encoders
   (36×36, batch 256) as one vmapped call against five plain calls, forward only; and K + 1 = 8 cotangents
   through the SARCOS MLP ensemble (21-128-128, M = 5, batch 256) as one backward batched over them
   (``is_grads_batched``) against eight plain backward calls.

One thread. Run: ``python benchmarks/bench_step_parts.py``.
"""

from __future__ import annotations

import gc
import time

import numpy as np
import torch
from bench_samplers import PRIOR_SCALE, with_prior

import stein_mo
import stein_mo.samplers.base as base
from stein_mo.kernels import squared_distances
from stein_mo.problems import three_mixtures
from stein_mo.qp import _min_norm_weights


def per_call(fn, n):
    """Mean µs per call of ``fn`` over ``n`` calls, after a warm-up."""
    for _ in range(max(n // 10, 3)):
        fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def step_parts(sampler, steps=2000):
    """µs per step of each part of ``sampler.step``, timed inside the step, from a collected heap (the previous
    sampler's garbage made the next one's Python-float QP up to 3× slower until a full collection)."""
    gc.collect()
    spent: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
            return out

        return wrapper

    saved = base._scores, base._optimizer_step
    base._scores, base._optimizer_step = timed("scores", base._scores), timed("optimizer", base._optimizer_step)
    sampler.kernel.terms = timed("kernel terms", sampler.kernel.terms)
    sampler.direction = timed("direction", sampler.direction)
    if hasattr(sampler, "weighting"):
        sampler.weighting.weights = timed("  of which the QP", sampler.weighting.weights)
    try:
        x0 = PRIOR_SCALE * torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
        state = sampler.init(x0, lr=3e-2)
        for _ in range(steps // 10):
            sampler.step(state)
        spent.clear()
        start = time.perf_counter()
        for _ in range(steps):
            sampler.step(state)
        total = time.perf_counter() - start
    finally:
        base._scores, base._optimizer_step = saved
    order = ("scores", "kernel terms", "direction", "  of which the QP", "optimizer")
    parts = {k: 1e6 * spent[k] / steps for k in order if k in spent}
    parts["rest (history, step norm, bookkeeping)"] = 1e6 * total / steps - sum(
        v for k, v in parts.items() if not k.startswith(" ")
    )
    return 1e6 * total / steps, parts


def median_selection(M):
    """µs of the one-position selection and of the two-position one, on one particle set's distances."""
    flat = squared_distances(torch.randn(M, 9, generator=torch.Generator().manual_seed(M))).reshape(-1).numpy()
    k = M + M * (M - 1) // 2 - 1
    n = max(3, int(2e6 / M**2))

    def one():
        part = np.partition(flat, k)
        return part[k], part[k + 1 :].min()

    two = per_call(lambda: np.partition(flat, [k, k + 1]), n)
    assert np.array_equal(np.partition(flat, [k, k + 1])[k : k + 2], np.array(one()))
    return per_call(one, n), two


def qp(K):
    """µs of one K x K problem on the Python path and on the batched tensor path."""
    A = torch.randn(K, 6, generator=torch.Generator().manual_seed(K), dtype=torch.float64)
    G = A @ A.T
    return per_call(lambda: _min_norm_weights(G), 3000), per_call(lambda: _min_norm_weights(G[None]), 3000)


def chosen_forms():
    """(label, µs of the form used, µs of the form it replaced) for the small choices of item 5; each pair is
    checked to give the same values."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 2, generator=g)
    assert torch.equal(x.expand(3, *x.shape).contiguous(), x.repeat(3, 1, 1))
    copies = per_call(lambda: x.expand(3, *x.shape).contiguous(), 20000), per_call(lambda: x.repeat(3, 1, 1), 20000)

    xb = torch.randn(3, 50, 2, generator=g, requires_grad=True)
    mu, b = torch.randn(3, 2, 2, generator=g), torch.randn(3, 1, 2, generator=g)

    def logits(fused):
        out = torch.baddbmm(b, xb, mu) if fused else torch.matmul(xb, mu).add_(b)
        return torch.autograd.grad(torch.logsumexp(out, -1).sum(), xb)[0]

    torch.testing.assert_close(logits(True), logits(False))
    mixture = per_call(lambda: logits(True), 5000), per_call(lambda: logits(False), 5000)

    C, Km = torch.randn(2, 5, 16384, generator=g), torch.rand(5, 5, generator=g)
    matmuls = lambda: C.flatten(1) @ (Km @ C).flatten(1).T  # noqa: E731
    einsum = lambda: torch.einsum("iap,ab,jbp->ij", C, Km, C)  # noqa: E731
    torch.testing.assert_close(matmuls(), einsum(), rtol=1e-4, atol=0)  # float32 sums in different orders
    gram = per_call(matmuls, 300), per_call(einsum, 300)

    z, W = torch.randn(5, 256, 128, generator=g), torch.randn(7, 5, 128, 1, generator=g)
    target = torch.randn(7, 5, 256, 1, generator=g)

    def feature_grads(leaves):
        zk = [z.detach().requires_grad_(True) for _ in W] if leaves else z.expand(7, *z.shape).contiguous()
        if not leaves:
            zk.requires_grad_(True)
        loss = sum((zk[k] @ W[k] - target[k]).pow(2).mean() for k in range(7))
        grads = torch.autograd.grad(loss, zk)
        return torch.stack(grads) if leaves else grads[0]

    torch.testing.assert_close(feature_grads(True), feature_grads(False))
    heads = per_call(lambda: feature_grads(True), 300), per_call(lambda: feature_grads(False), 300)
    return [
        ("per-target copies (3, 50, 2): expand().contiguous() / repeat", *copies),
        ("mixture logits + backward (3, 50, 2): baddbmm / matmul + add", *mixture),
        ("ensemble Gramian (2, 5, 16384): matmuls / 3-way einsum", *gram),
        ("feature grads, 7 heads on (5, 256, 128): leaves / one copy", *heads),
    ]


def vectorising_costs():
    """(label, µs of the vectorised form, µs of the per-call form) for item 6."""
    from stein_mo.ensembles import ParticleEnsemble, lenet, mlp

    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    make = lenet(36)[0]
    ens = ParticleEnsemble(make, 5)
    members = [ens.member(m) for m in range(5)]
    x = torch.rand(256, 1, 36, 36, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(ens(x), torch.stack([m(x) for m in members]), rtol=1e-4, atol=1e-5)
        conv = per_call(lambda: ens(x), 10), per_call(lambda: [m(x) for m in members], 10)
    enc = ParticleEnsemble(mlp(21, 7)[0], 5)
    z = enc(torch.randn(256, 21, generator=g))
    params, cot = list(enc.params), torch.randn(8, *z.shape, generator=g)
    batched = lambda: torch.autograd.grad(z, params, cot, is_grads_batched=True, retain_graph=True)  # noqa: E731
    plain = lambda: [torch.autograd.grad(z, params, c, retain_graph=True) for c in cot]  # noqa: E731
    for a, b in zip(batched(), zip(*plain(), strict=True), strict=True):
        torch.testing.assert_close(a, torch.stack(b), rtol=1e-4, atol=1e-5)
    vjps = per_call(batched, 100), per_call(plain, 100)
    return [
        ("5 LeNet encoders 36x36, forward: one vmapped call / 5 calls", *conv),
        ("8 cotangents, SARCOS MLP M = 5: batched backward / 8 backward", *vjps),
    ]


def main():
    torch.set_num_threads(1)
    print(f"one thread, torch {torch.__version__}, numpy {np.__version__}")
    samplers = {
        "SVGD, 1 target": stein_mo.SVGD(with_prior(three_mixtures()[0])),
        "MT-SGD, 3 targets batched": stein_mo.MTSGD(with_prior(three_mixtures(stacked=True))),
    }
    for label, sampler in samplers.items():
        total, parts = step_parts(sampler)
        print(f"\n{label}, M = 50: {total:.0f} µs per step")
        for name, us in parts.items():
            print(f"  {name:<42}{us:8.1f} µs")
    print("\nmedian heuristic, numpy selection        one position + min   two positions   ratio")
    for M in (100, 300, 1000, 3000):
        one, two = median_selection(M)
        print(f"  M = {M:<5}{'':30}{one:12.1f} µs{two:13.1f} µs{two / one:8.1f}x")
    print("\none simplex QP on CPU                     Python floats       batched tensors  ratio")
    for K in (2, 3, 4):
        py, batched = qp(K)
        print(f"  K = {K}{'':34}{py:12.1f} µs{batched:13.1f} µs{batched / py:8.1f}x")
    x = torch.randn(128, 50, 10, 10, generator=torch.Generator().manual_seed(0))
    xl = x.contiguous(memory_format=torch.channels_last)
    nchw = per_call(lambda: torch.nn.functional.max_pool2d(x, 2), 200)
    last = per_call(lambda: torch.nn.functional.max_pool2d(xl, 2), 200)
    print(f"\n2x2 max-pooling of (128, 50, 10, 10): NCHW {nchw:.0f} µs, channels-last {last:.0f} µs "
          f"({nchw / last:.1f}x)")  # fmt: skip
    print(f"\n{'form used / form replaced':<64}{'used':>10}{'replaced':>12}  ratio")
    for label, used, replaced in chosen_forms():
        print(f"  {label:<62}{used:8.1f} µs{replaced:9.1f} µs{replaced / used:7.1f}x")
    print(f"\n{'members vectorised / member by member':<64}{'vmapped':>10}{'per call':>12}  vmapped / per call")
    for label, vec, per in vectorising_costs():
        print(f"  {label:<62}{vec:8.0f} µs{per:9.0f} µs{vec / per:7.2f}x")


if __name__ == "__main__":
    main()
