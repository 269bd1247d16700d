"""Sampler speed against pyro.infer.SVGD, MOO-SVGD against MT-SGD, and step time / memory against M.

Run: ``python benchmarks/bench_samplers.py [--device cuda] [--max-particles 20000]``. One thread
(``torch.set_num_threads(1)``); every ratio compares two runs made in the same process.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

import pyro
import pyro.distributions as dist
import torch

import stein_mo
from stein_mo.problems import three_mixtures

PRIOR_SCALE = 5.0  # the seed's initial distribution, used as a prior by both libraries


def with_prior(target):
    """``target`` plus the N(0, 5²) prior of pyro's model, written as plain tensor code (the log density a stein_mo
    user writes); keeps a batched target batched."""
    const = -math.log(PRIOR_SCALE * math.sqrt(2 * math.pi))

    def logp(x):
        return target(x) + (x.pow(2).sum(-1).mul(-0.5 / PRIOR_SCALE**2) + x.shape[-1] * const)

    logp.__name__ = target.__name__
    if getattr(target, "num_targets", None):
        logp.num_targets = target.num_targets
    return logp


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_ours(sampler, x0, steps):
    sync(x0.device)
    t = time.perf_counter()
    result = sampler.run(x0, steps, lr=3e-2)
    sync(x0.device)
    return time.perf_counter() - t, result.particles


def time_pyro(target, x0, steps, validate=True):
    """pyro.infer.SVGD on the same target, prior and starting particles; ``validate=False`` is pyro's fastest."""
    pyro.clear_param_store()
    pyro.enable_validation(validate)
    M, d = x0.shape

    def model():
        x = pyro.sample("x", dist.Normal(torch.zeros(d, device=x0.device), PRIOR_SCALE).to_event(1))
        pyro.factor("target", target(x))

    pyro.param("svgd_particles", x0.reshape(-1).clone())  # the guide's flat particle vector (one site: row-major)
    svgd = pyro.infer.SVGD(model, pyro.infer.RBFSteinKernel(), pyro.optim.Adam({"lr": 3e-2}), M, 0, mode="multivariate")
    sync(x0.device)
    t = time.perf_counter()
    for _ in range(steps):
        svgd.step()
    sync(x0.device)
    elapsed = time.perf_counter() - t
    pyro.enable_validation(True)
    return elapsed, pyro.param("svgd_particles").unconstrained().detach().reshape(M, d)


def best_of(runs, repeats=3):
    """Interleave the contenders ``repeats`` times (after one untimed warm-up each); keep each one's best time."""
    best, out = {}, {}
    for r in range(repeats + 1):
        for name, fn in runs.items():
            t, x = fn()
            if r:
                best[name], out[name] = min(best.get(name, t), t), x
    return best, out


def bench_vs_pyro(device, M=50, steps=1000):
    mixtures = three_mixtures()
    targets = [with_prior(t) for t in mixtures]
    stacked = with_prior(three_mixtures(stacked=True))
    x0 = (PRIOR_SCALE * torch.randn(M, 2, generator=torch.Generator().manual_seed(0))).to(device)
    best, out = best_of(
        {
            "pyro": lambda: time_pyro(targets[0], x0, steps),
            "pyro_fast": lambda: time_pyro(targets[0], x0, steps, validate=False),
            "svgd": lambda: time_ours(stein_mo.SVGD(targets[0]), x0, steps),
            "mt_list": lambda: time_ours(stein_mo.MTSGD(targets), x0, steps),
            "mt": lambda: time_ours(stein_mo.MTSGD(stacked), x0, steps),
        }
    )
    t_pyro, t_pyro_fast, t_svgd, t_mt_list, t_mt = (best[k] for k in ("pyro", "pyro_fast", "svgd", "mt_list", "mt"))
    xp, xs = out["pyro"], out["svgd"]
    rows = {
        "pyro.infer.SVGD, 1 target (validation on, pyro's default)": t_pyro,
        "pyro.infer.SVGD, 1 target (validation off)": t_pyro_fast,
        "stein_mo.SVGD, 1 target": t_svgd,
        "stein_mo.MTSGD, 3 targets as a list": t_mt_list,
        "stein_mo.MTSGD, 3 targets batched (stacked)": t_mt,
    }
    print(f"\n{M} particles, {steps} Adam steps, mixture target(s) + N(0, 5^2) prior, best of 3, device={device}")
    for name, t in rows.items():
        print(f"  {name:<58} {t:7.3f} s  ({1e3 * t / steps:.3f} ms/step)")
    for name, ours, goal in (("SVGD", t_svgd, 5), ("MT-SGD K=3 batched", t_mt, 3), ("MT-SGD K=3 list", t_mt_list, 3)):
        print(
            f"  pyro SVGD (K=1) / {name:<19} = {t_pyro / ours:5.2f}x   validation off: {t_pyro_fast / ours:5.2f}x"
            f"   (issue asks >= {goal}x)"
        )
    print(f"  same start, mean after {steps} steps: pyro {xp.mean(0).tolist()}  stein_mo {xs.mean(0).tolist()}")
    keys = ("pyro_svgd_s", "pyro_svgd_novalidate_s", "svgd_s", "mtsgd_list_s", "mtsgd_s")
    return dict(zip(keys, rows.values(), strict=True))


def bench_moo_vs_mt(device, M=100, steps=500):
    targets = three_mixtures()
    x0 = (5 * torch.randn(M, 2, generator=torch.Generator().manual_seed(0))).to(device)
    t_mt, _ = time_ours(stein_mo.MTSGD(targets), x0, steps)
    t_moo, _ = time_ours(stein_mo.MOOSVGD(targets), x0, steps)
    print(f"\nMOO-SVGD vs MT-SGD, {M} particles, K=3, {steps} steps, device={device}")
    print(f"  MT-SGD {1e3 * t_mt / steps:.3f} ms/step   MOO-SVGD {1e3 * t_moo / steps:.3f} ms/step")
    print(f"  ratio MOO-SVGD / MT-SGD = {t_moo / t_mt:.2f}x  (issue asks <= 2x; the seed's loop code ~7x)")
    return {"mtsgd_ms": 1e3 * t_mt / steps, "moosvgd_ms": 1e3 * t_moo / steps}


CHILD = """
import json, resource, sys, time, torch, stein_mo
torch.set_num_threads(1)
M, d, device = int(sys.argv[1]), int(sys.argv[2]), torch.device(sys.argv[3])
targets = [lambda x, m=m: -0.5 * ((x - m) ** 2).sum(-1) for m in (-1.0, 0.0, 1.0)]
x0 = torch.randn(M, d, device=device)
sampler = stein_mo.MTSGD(targets)
state = sampler.init(x0, lr=1e-2)
sampler.step(state)  # warm-up
if device.type == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = 3 if M <= 5000 else 1
t = time.perf_counter()
for _ in range(n):
    sampler.step(state)
if device.type == "cuda":
    torch.cuda.synchronize()
if device.type == "cuda":
    peak = torch.cuda.max_memory_allocated()
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"M": M, "seconds": (time.perf_counter() - t) / n, "peak_bytes": peak}))
"""


def bench_scaling(device, max_particles, d=50):
    print(f"\nMT-SGD step vs number of particles (K=3, d={d}, float32, device={device})")
    print(f"  {'M':>6} {'s/step':>9} {'s/step/M^2 (ns)':>16} {'peak MB':>9} {'peak/(4 M^2)':>13} {'4 M^2 d MB':>11}")
    rows = []
    for M in [m for m in (100, 300, 1000, 3000, 10000, 20000) if m <= max_particles]:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(M), str(d), str(device)], capture_output=True, text=True, check=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(
            f"  {M:>6} {r['seconds']:>9.4f} {1e9 * r['seconds'] / M**2:>16.2f} {r['peak_bytes'] / 2**20:>9.0f} "
            f"{r['peak_bytes'] / (4 * M**2):>13.1f} {4 * M**2 * d / 2**20:>11.0f}"
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-particles", type=int, default=20000)
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    results = {"vs_pyro": bench_vs_pyro(device), "moo_vs_mt": bench_moo_vs_mt(device)}
    if not args.skip_scaling:
        results["scaling"] = bench_scaling(device, args.max_particles)
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
