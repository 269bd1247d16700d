"""Seed 000's Figure 6: time for 1000 steps of MT-SGD and MOO-SVGD against the number of particles.

Three mixtures (d = 2, K = 3, batched target), Adam. Up to 1,000 particles the 1000 steps are timed; above, 20
steps are timed and multiplied by 50 (marked "x50"). One thread. Prints a table and writes
``docs/_static/timing.png``. Run: ``python benchmarks/bench_timing.py [--device cuda] [--max-particles 10000]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import stein_mo
from stein_mo.problems import three_mixtures

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static"


def time_steps(sampler, M, steps, device):
    x0 = (5 * torch.randn(M, 2, generator=torch.Generator().manual_seed(0))).to(device)
    state = sampler.init(x0, lr=3e-2)
    sampler.step(state)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        sampler.step(state)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-particles", type=int, default=10_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    targets = three_mixtures(stacked=True)
    samplers = {"MT-SGD": stein_mo.MTSGD(targets), "MOO-SVGD": stein_mo.MOOSVGD(targets)}
    sizes = [m for m in (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000) if m <= args.max_particles]
    rows = []
    print(f"seconds for 1000 steps, three mixtures (K = 3, d = 2), device={device}")
    print(f"  {'M':>6} {'MT-SGD':>10} {'MOO-SVGD':>10} {'ratio':>7}")
    for M in sizes:
        steps, scale = (1000, 1) if M <= 1000 else (20, 50)
        t = {name: scale * time_steps(s, M, steps, device) for name, s in samplers.items()}
        rows.append({"M": M, **t, "extrapolated": scale > 1})
        mark = " x50" if scale > 1 else ""
        print(f"  {M:>6} {t['MT-SGD']:>10.2f} {t['MOO-SVGD']:>10.2f} {t['MOO-SVGD'] / t['MT-SGD']:>7.2f}{mark}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name in samplers:
        ax.loglog([r["M"] for r in rows], [r[name] for r in rows], "o-", label=name)
    ax.set(xlabel="particles M", ylabel="seconds for 1000 steps", title=f"three mixtures, {device}, 1 thread")
    ax.legend()
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / f"timing_{device.type}.png", dpi=120)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
