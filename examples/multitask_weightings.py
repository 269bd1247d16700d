"""Weightings side by side: a small multi-task regression trained with each, and MT-SGD with three weightings.

Part 1: a shared encoder with three heads on synthetic tasks whose losses differ in scale by 100x (task 3's
targets are 10x larger). Each weighting trains the same initial model with Adam for 400 steps through
``stein_mo.weighting.mtl_backward``; the script prints each task's final test loss and draws the curves.
Part 2: MT-SGD on seed 000's three mixtures (exact Gramian U) with the weights from MGDA (the paper's),
UPGrad and the mean; it prints the share of particles within 1.5 of the joint mode.

Writes ``docs/_static/weightings.png``. Run: ``python examples/multitask_weightings.py`` (about a minute).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import stein_mo
from stein_mo.problems import JOINT_MODE, three_mixtures
from stein_mo.weighting import mtl_backward

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static"
METHODS = ["mean", "mgda", "upgrad", "dualproj", "imtlg", "aligned", "pcgrad", "random"]


def data(n, g):
    x = torch.randn(n, 10, generator=g)
    a = torch.randn(3, 10, generator=torch.Generator().manual_seed(42)) / 10**0.5  # a.x ~ N(0, 1)
    a[1] = -0.8 * a[0] + 0.6 * a[1]  # task 2 partly conflicts with task 1
    y = torch.sin(x @ a.T) * torch.tensor([1.0, 1.0, 10.0]) + 0.1 * torch.randn(n, 3, generator=g)
    return x, y


def build():
    torch.manual_seed(0)
    shared = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh())
    heads = torch.nn.ModuleList([torch.nn.Linear(32, 1) for _ in range(3)])
    return shared, heads


def losses(shared, heads, x, y):
    z = shared(x)
    return torch.stack([((h(z)[:, 0] - y[:, k]) ** 2).mean() for k, h in enumerate(heads)])


def train(method, steps=400):
    xtr, ytr = data(512, torch.Generator().manual_seed(0))
    xte, yte = data(2048, torch.Generator().manual_seed(1))
    shared, heads = build()
    opt = torch.optim.Adam(list(shared.parameters()) + list(heads.parameters()), lr=1e-2)
    weighting = (
        stein_mo.get_weighting(method, generator=torch.Generator().manual_seed(0))
        if method in ("random", "pcgrad")
        else stein_mo.get_weighting(method)
    )
    curve = []
    for _ in range(steps):
        opt.zero_grad()
        mtl_backward(losses(shared, heads, xtr, ytr), shared.parameters(), heads.parameters(), method=weighting)
        opt.step()
        with torch.no_grad():
            curve.append(losses(shared, heads, xte, yte))
    return torch.stack(curve)


def share_near_joint_mode(weighting, seed):
    x0 = 5 * torch.randn(50, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    X = stein_mo.MTSGD(three_mixtures(stacked=True), weighting=weighting).run(x0, 2000, lr=3e-2).particles
    return float(((X - torch.tensor(JOINT_MODE, dtype=X.dtype)).norm(dim=1) < 1.5).double().mean())


if __name__ == "__main__":
    torch.set_num_threads(1)
    curves = {m: train(m) for m in METHODS}
    print("final test loss per task (task 3's targets are 10x larger)")
    print(f"{'method':<10} {'task 1':>8} {'task 2':>8} {'task 3':>8}")
    for m, c in curves.items():
        print(f"{m:<10} " + " ".join(f"{v:8.4f}" for v in c[-1].tolist()))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for k, ax in enumerate(axes):
        for m, c in curves.items():
            ax.plot(c[:, k], label=m, lw=1.2)
        ax.set(title=f"task {k + 1}", xlabel="Adam step", yscale="log")
    axes[0].set_ylabel("test MSE")
    axes[-1].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "weightings.png", dpi=120)

    print("\nMT-SGD on the three mixtures (exact U), share within 1.5 of the joint mode, seeds 0-2")
    for weighting in ("mgda", "upgrad", "mean"):
        shares = [share_near_joint_mode(weighting, s) for s in range(3)]
        print(f"{weighting:<8} " + " ".join(f"{v:.2f}" for v in shares))
    print(f"\nwrote {OUT / 'weightings.png'}")
