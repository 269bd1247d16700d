"""Matplotlib figures: particles over the density contours of 2-D targets, reliability diagrams, training curves."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .stein import Target

__all__ = ["plot_density_contours", "plot_reliability", "plot_snapshots", "plot_training_curves", "pyplot"]


def pyplot():
    """``matplotlib.pyplot``, on the non-interactive Agg backend unless a backend is already in use."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


_COLOURS = ("tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink")


def plot_density_contours(ax, targets: Sequence[Target], extent: float = 7.0, n: int = 200) -> None:
    """Draw each 2-D target's density contours on ``ax``, one colour per target."""
    g = torch.linspace(-extent, extent, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack([xx.flatten(), yy.flatten()], 1)
    for k, target in enumerate(targets):
        with torch.no_grad():
            dens = target(grid).exp().reshape(n, n)
        ax.contour(
            xx.numpy(),
            yy.numpy(),
            dens.numpy(),
            levels=6,
            colors=_COLOURS[k % len(_COLOURS)],
            linewidths=0.8,
            alpha=0.8,
        )
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")


def plot_snapshots(targets: Sequence[Target], rows: dict[str, dict[int, Tensor]], extent: float = 7.0):
    """One row per method, one column per recorded step: particles (red) over the targets' contours.

    ``rows`` maps a method name to ``{step: particles (M, 2)}``. Returns the matplotlib figure.
    """
    plt = pyplot()
    ncol = max(len(r) for r in rows.values())
    fig, axes = plt.subplots(len(rows), ncol, figsize=(3 * ncol, 3 * len(rows)), squeeze=False)
    for i, (name, snaps) in enumerate(rows.items()):
        for j, (step, X) in enumerate(sorted(snaps.items())):
            ax = axes[i, j]
            plot_density_contours(ax, targets, extent)
            X = X.detach().cpu()
            ax.scatter(X[:, 0], X[:, 1], s=8, c="red", zorder=3)
            ax.set_title(f"{name} — step {step}", fontsize=9)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def plot_reliability(probs: Tensor, labels: Tensor, n_bins: int = 10, closed: str = "right", ax=None, label=None):
    """Reliability diagram: per-bin accuracy against confidence (bars), the diagonal, and the ECE in the legend.

    Returns the axes.
    """
    plt = pyplot()
    from .metrics.calibration import ece, reliability

    r = reliability(probs, labels, n_bins, closed)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    centres = ((torch.arange(n_bins, dtype=torch.float64) + 0.5) / n_bins).numpy()
    filled = (r["count"].cpu() > 0).numpy()
    value = ece(probs, labels, n_bins, closed).item()
    ax.bar(
        centres[filled],
        r["accuracy"].detach().cpu().numpy()[filled],
        width=1 / n_bins,
        alpha=0.6,
        edgecolor="k",
        label=f"{label + ': ' if label else ''}ECE {value:.3f}",
    )
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    return ax


def plot_training_curves(results: dict):
    """Training loss and validation NLL per epoch, one line per method, from ``stein-mo mtl``'s ``results``."""
    import numpy as np

    fig, axes = pyplot().subplots(1, 2, figsize=(10, 4))
    for name, r in results["methods"].items():
        h = r["history"]
        epochs = [e["epoch"] for e in h]
        axes[0].plot(epochs, [float(np.mean(e["train_loss"])) for e in h], label=name)
        if h and "val" in h[0]:
            key = "nll" if "nll" in h[0]["val"][0] else "gaussian_nll"
            axes[1].plot(epochs, [float(np.mean([t[key] for t in e["val"]])) for e in h], label=name)
            axes[1].set_ylabel(f"validation {key} (mean over tasks)")
    axes[0].set_ylabel("training loss (mean over tasks and members)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    return fig
