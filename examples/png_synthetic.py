"""PNG on seed 001's synthetic two-loss problem (§5.1): preferred Pareto points, and a diverse ensemble.

Part 1: one model per preference r1 in {0.2, 0.4, 0.6, 0.8} (r2 = 1 - r1) with the weighted-distance criterion
F = sum_i (l_i - r_i)^2 / r_i, seed 001's hyper-parameters (alpha 0.5, gamma 0.1), 3000 steps of size 0.05.
Part 2: five models with the energy-distance criterion (eq. 6, as log E), against linear scalarisation with five
evenly spaced weights; HV against the reference point (1, 1).

Writes ``docs/_static/png_synthetic.png``. Run: ``python examples/png_synthetic.py`` (about 20 s).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from stein_mo.metrics import hypervolume
from stein_mo.problems import two_gaussian_front, two_gaussian_losses
from stein_mo.weighting import PNG, criterion_weights, energy_distance, jacobian, weighted_distance

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static"
N_DIM = 10


def init(models):
    return 0.1 * torch.randn(models, N_DIM, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def png_run(criterion, models, steps, lr, **options):
    theta = init(models).requires_grad_(True)
    png, path = PNG(**options), []
    for _ in range(steps):
        L = two_gaussian_losses(theta)
        path.append(L.detach())
        J = jacobian(L.sum(0), [theta]).view(2, models, N_DIM).transpose(0, 1)  # model i's losses: theta_i only
        c = criterion_weights(criterion, L)
        v, info = png.direction(J, (c[:, None, :] @ J)[:, 0])
        with torch.no_grad():
            theta -= lr * v
    return two_gaussian_losses(theta).detach(), torch.stack(path), info


def scalarised(models=5, steps=2000, lr=0.1):
    theta = init(models).requires_grad_(True)
    w = torch.linspace(0, 1, models, dtype=torch.float64)
    opt = torch.optim.SGD([theta], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        (two_gaussian_losses(theta) * torch.stack([w, 1 - w], 1)).sum().backward()
        opt.step()
    return two_gaussian_losses(theta).detach()


if __name__ == "__main__":
    torch.set_num_threads(1)
    front = two_gaussian_front(400)
    r1 = torch.tensor([0.2, 0.4, 0.6, 0.8], dtype=torch.float64)
    R = torch.stack([r1, 1 - r1], 1)
    L_wd, path_wd, info = png_run(lambda L: weighted_distance(L, R), 4, 3000, 0.05)
    print("weighted distance, seed 001 defaults (alpha 0.5, gamma 0.1)")
    for k in range(4):
        print(f"  r = ({r1[k]:.1f}, {1 - r1[k]:.1f})  losses {L_wd[k].tolist()}  g = {float(info['g'][k]):.1e}")

    ref = [1.0, 1.0]
    runs = {
        "PNG, gamma 0.1 (seed default)": png_run(lambda L: energy_distance(L).log(), 5, 2000, 0.01)[0],
        "PNG, gamma 0.001": png_run(lambda L: energy_distance(L).log(), 5, 2000, 0.01, gamma=1e-3)[0],
        "linear scalarisation": scalarised(),
    }
    dist = {k: torch.cdist(v, two_gaussian_front(4001)).min(1).values.max().item() for k, v in runs.items()}
    print(f"\nenergy distance, 5 models; HV w.r.t. {ref} (whole front: {hypervolume(front, ref):.3f})")
    for name, L in runs.items():
        print(f"  {name:<30} HV {hypervolume(L, ref):.3f}   farthest model from the front {dist[name]:.3f}")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax in axes:
        ax.plot(front[:, 0], front[:, 1], "k-", lw=1, label="Pareto front")
        ax.set(xlabel="loss 1", ylabel="loss 2", xlim=(-0.03, 1.03), ylim=(-0.03, 1.03), aspect="equal")
    for k in range(4):
        axes[0].plot(path_wd[:, k, 0], path_wd[:, k, 1], lw=1)
        axes[0].plot(*L_wd[k], "o", ms=6, label=f"r1 = {r1[k]:.1f}")
    axes[0].set_title("PNG, weighted distance to r")
    axes[0].legend(fontsize=8)
    for (name, L), marker in zip(runs.items(), ("s", "o", "x"), strict=True):
        axes[1].plot(L[:, 0], L[:, 1], marker, ms=8, mfc="none", label=f"{name}: HV {hypervolume(L, ref):.3f}")
    axes[1].set_title("five models: energy distance vs linear scalarisation")
    axes[1].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "png_synthetic.png", dpi=120)
    print(f"\nwrote {OUT / 'png_synthetic.png'}")
