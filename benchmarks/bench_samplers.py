"""Sampler speed against pyro.infer.SVGD, MOO-SVGD against MT-SGD, and step time / memory against M.

Run: ``python benchmarks/bench_samplers.py [--device cuda] [--max-particles 20000]``. One thread
(``torch.set_num_threads(1)``); every ratio compares two runs made in the same process.
"""

from __future__ import annotations

import argparse
import json
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
    prior = dist.Normal(0.0, PRIOR_SCALE)

    def logp(x):
        return target(x) + prior.log_prob(x).sum(-1)

    logp.__name__ = target.__name__
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


def time_pyro(target, M, steps, device):
    pyro.clear_param_store()

    def model():
        x = pyro.sample("x", dist.Normal(torch.zeros(2, device=device), PRIOR_SCALE).to_event(1))
        pyro.factor("target", target(x))

    svgd = pyro.infer.SVGD(model, pyro.infer.RBFSteinKernel(), pyro.optim.Adam({"lr": 3e-2}), M, 0, mode="multivariate")
    svgd.step()  # initialises the particles (drawn from the prior)
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        svgd.step()
    sync(device)
    elapsed = time.perf_counter() - t
    return elapsed, pyro.param("svgd_particles").unconstrained().detach().reshape(M, 2)


def bench_vs_pyro(device, M=50, steps=1000):
    targets = [with_prior(t) for t in three_mixtures()]
    x0 = (PRIOR_SCALE * torch.randn(M, 2, generator=torch.Generator().manual_seed(0))).to(device)
    t_pyro, xp = time_pyro(targets[0], M, steps, device)
    t_svgd, xs = time_ours(stein_mo.SVGD(targets[0]), x0, steps)
    t_mt, _ = time_ours(stein_mo.MTSGD(targets), x0, steps)
    rows = {
        "pyro.infer.SVGD, 1 target": t_pyro,
        "stein_mo.SVGD, 1 target": t_svgd,
        "stein_mo.MTSGD, 3 targets": t_mt,
    }
    print(f"\n{M} particles, {steps} Adam steps, mixture target(s), device={device}")
    for name, t in rows.items():
        print(f"  {name:<28} {t:7.3f} s  ({1e3 * t / steps:.3f} ms/step)")
    print(f"  ratio pyro SVGD / stein_mo SVGD       = {t_pyro / t_svgd:6.2f}x  (issue asks >= 5x)")
    print(f"  ratio pyro SVGD (K=1) / MT-SGD (K=3)  = {t_pyro / t_mt:6.2f}x  (issue asks >= 3x)")
    print(f"  posterior mean, pyro {xp.mean(0).tolist()}  stein_mo {xs.mean(0).tolist()}")
    return {"pyro_svgd_s": t_pyro, "svgd_s": t_svgd, "mtsgd_s": t_mt}


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
