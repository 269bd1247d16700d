"""Several Pyro posteriors at once: three Bayesian linear regressions that share their weight vector.

Each dataset k measures w in R^2 only along its own input direction, so each posterior p_k(w | D_k) is a narrow
ellipse around a line, and the three lines cross near the true w. The *joint high-likelihood region* is where all
three posteriors have high density at once: the small area around that crossing. Three runs from the same 50
particles drawn from the prior:

* SVGD on each posterior alone: each spreads along its own ellipse, far from the others;
* MT-SGD over all three (exact Gramian; MGDA and UPGrad weights): one set of particles that moves into the joint
  region;
* the exact reference: the models are conjugate, so every posterior, and the normalised product of the three,
  is Gaussian in closed form.

Prints the particle means against the product's mean, the share of particles inside the product's 95% ellipse,
and writes ``docs/_static/pyro_posteriors.png``. Run: ``python examples/several_pyro_posteriors.py`` (~30 s).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pyro
import pyro.distributions as dist
import torch

import stein_mo

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static"
W_TRUE = torch.tensor([1.0, -0.5], dtype=torch.float64)
PRIOR_SD, NOISE_SD, N = 2.0, 0.5, 20


def model(x, y):
    w = pyro.sample("w", dist.Normal(torch.zeros(2, dtype=torch.float64), PRIOR_SD).to_event(1))
    with pyro.plate("data", len(y)):
        pyro.sample("y", dist.Normal((x * w).sum(-1), NOISE_SD), obs=y)


def dataset(angle, seed):
    g = torch.Generator().manual_seed(seed)
    direction = torch.tensor([torch.cos(angle), torch.sin(angle)], dtype=torch.float64)
    x = torch.randn(N, 1, generator=g, dtype=torch.float64) * direction + 0.05 * torch.randn(N, 2, generator=g)
    return x, x @ W_TRUE + NOISE_SD * torch.randn(N, generator=g, dtype=torch.float64)


def gaussian_posterior(x, y, prior_precision):
    """Exact posterior N(mean, cov) of w for one dataset under a N(0, prior_precision^-1) prior."""
    precision = prior_precision + x.T @ x / NOISE_SD**2
    cov = torch.linalg.inv(precision)
    return cov @ (x.T @ y) / NOISE_SD**2, cov


def inside_95(points, mean, cov):
    d2 = ((points - mean) @ torch.linalg.inv(cov) * (points - mean)).sum(1)
    return float((d2 <= 5.991).double().mean())  # chi-square(2) 95% quantile


if __name__ == "__main__":
    torch.set_num_threads(1)
    data = [dataset(torch.tensor(a, dtype=torch.float64), s) for s, a in enumerate((0.2, 1.3, 2.4))]
    targets = [stein_mo.from_pyro(model, x, y) for x, y in data]
    prior_prec = torch.eye(2, dtype=torch.float64) / PRIOR_SD**2
    posts = [gaussian_posterior(x, y, prior_prec) for x, y in data]
    # normalised product of the three posteriors: precisions add, so does precision @ mean
    prod_prec = sum(torch.linalg.inv(c) for _, c in posts)
    prod_cov = torch.linalg.inv(prod_prec)
    prod_mean = prod_cov @ sum(torch.linalg.inv(c) @ m for m, c in posts)

    x0 = targets[0].init_particles(50, torch.Generator().manual_seed(0))
    runs = {
        f"SVGD on posterior {k + 1}": stein_mo.SVGD(t).run(x0, 2000, lr=0.02).samples["w"]
        for k, t in enumerate(targets)
    }
    for weighting in ("mgda", "upgrad"):
        sampler = stein_mo.MTSGD(targets, weighting=weighting)
        runs[f"MT-SGD ({weighting})"] = sampler.run(x0, 2000, lr=0.02).samples["w"]

    print(f"true w {W_TRUE.tolist()}; product of the three posteriors: mean {prod_mean.tolist()}")
    print(f"{'run':<24} {'particle mean':>26} {'|mean - product mean|':>22} {'inside product 95%':>19}")
    for name, w in runs.items():
        err, share = float((w.mean(0) - prod_mean).norm()), inside_95(w, prod_mean, prod_cov)
        print(f"{name:<24} {[round(v, 3) for v in w.mean(0).tolist()]!s:>26} {err:>22.3f} {share:>19.2f}")

    g = torch.linspace(-3, 3, 240, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    colors = ["tab:blue", "tab:orange", "tab:green"]

    def ellipses(ax, mean, cov, color, width):  # 1, 2 and 3 standard-deviation contours
        d2 = ((grid - mean) @ torch.linalg.inv(cov) * (grid - mean)).sum(1).reshape(240, 240)
        ax.contour(g, g, d2, levels=[1.0, 4.0, 9.0], colors=color, linewidths=width)

    for ax in axes:
        for (m, c), col in zip(posts, colors, strict=True):
            ellipses(ax, m, c, col, 0.8)
        ellipses(ax, prod_mean, prod_cov, "k", 1.2)
        ax.plot(*W_TRUE, "k*", ms=12)
        ax.set(xlabel="w1", ylabel="w2", aspect="equal", xlim=(-3, 3), ylim=(-3, 3))
    for k, col in enumerate(colors):
        w = runs[f"SVGD on posterior {k + 1}"]
        axes[0].plot(w[:, 0], w[:, 1], ".", color=col, ms=4, label=f"SVGD on posterior {k + 1}")
    axes[0].set_title("each posterior alone (colours) and their product (black)")
    axes[0].legend(fontsize=8, loc="lower left")
    for name, marker in (("MT-SGD (mgda)", "o"), ("MT-SGD (upgrad)", "x")):
        w = runs[name]
        axes[1].plot(w[:, 0], w[:, 1], marker, mfc="none", ms=5, label=name)
    axes[1].set_title("MT-SGD over all three: the joint region")
    axes[1].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "pyro_posteriors.png", dpi=120)
    print(f"\nwrote {OUT / 'pyro_posteriors.png'}")
