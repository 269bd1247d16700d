"""``stein-mo mtl``: train several methods on one multi-task dataset, compare them per task, write JSON and figures.

Datasets: ``multi-digits`` (embedded, no files), ``multi-mnist`` (``--data-dir`` with ``mnist_5k.csv.gz`` and the
two ``t10k-*-ubyte.gz`` files; the last 10% of the training pairs are the validation split) and ``sarcos``
(``--data-dir`` with ``sarcos_inv_test.mat``; a 60/20/20 split, standardised on the training part).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data import MultiDigits, load_sarcos, multi_mnist
from .methods import get_method
from .models import lenet, mlp
from .multitask import MultiTaskEnsemble
from .training import evaluate, fit, noise_variance

__all__ = ["DATASETS", "Dataset", "load_dataset", "run_experiment"]

DATASETS = ("multi-digits", "multi-mnist", "sarcos")
Split = tuple[Tensor, Tensor]


@dataclass
class Dataset:
    """Splits, the member architecture and each task's loss."""

    name: str
    train: Split
    val: Split
    test: Split
    make: tuple  # (encoder builder, head builders)
    losses: list[str]
    task_names: list[str]


def load_dataset(name: str, data_dir: str | Path | None = None, seed: int = 0) -> Dataset:
    if name == "multi-digits":
        d = MultiDigits(seed=seed)
        return Dataset(name, d.train, d.val, d.test, lenet(12), ["ce", "ce"], ["top-left", "bottom-right"])
    if data_dir is None:
        raise ValueError(f"--dataset {name} needs --data-dir")
    root = Path(data_dir)
    if name == "multi-mnist":
        (x, y), test = multi_mnist(
            root / "mnist_5k.csv.gz", root / "t10k-images-idx3-ubyte.gz", root / "t10k-labels-idx1-ubyte.gz"
        )
        n_val = len(x) // 10
        train, val = (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])
        return Dataset(name, train, val, test, lenet(36), ["ce", "ce"], ["top-left", "bottom-right"])
    if name == "sarcos":
        X, Y = load_sarcos(root / "sarcos_inv_test.mat")
        order = torch.from_numpy(np.random.RandomState(seed).permutation(len(X)))
        a, b = int(0.6 * len(X)), int(0.8 * len(X))
        tr = order[:a]
        mx, sx, my, sy = X[tr].mean(0), X[tr].std(0), Y[tr].mean(0), Y[tr].std(0)
        X, Y = (X - mx) / sx, (Y - my) / sy
        split = [(X[i], Y[i]) for i in (order[:a], order[a:b], order[b:])]
        K = Y.shape[1]
        return Dataset(name, *split, mlp(X.shape[1], K), ["mse"] * K, [f"torque {k + 1}" for k in range(K)])
    raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")


def run_experiment(
    dataset: Dataset,
    methods: list[str],
    *,
    particles: int = 5,
    epochs: int = 10,
    out: str | Path = "stein_mo_mtl",
    resume: bool = False,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    method_options: dict[str, dict[str, Any]] | None = None,
    **fit_options: Any,
) -> dict[str, Any]:
    """Train every method from the same seed; return and write ``results.json`` (per-task test metrics of the
    ensemble selected on the validation split, histories, timings). Checkpoints go to ``out/<method>.pt``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"dataset": dataset.name, "tasks": dataset.task_names, "particles": particles,
                               "epochs": epochs, "seed": seed, "device": device, "methods": {}}  # fmt: skip
    fit_options.setdefault("select", True)
    for name in methods:
        method = get_method(name, **(method_options or {}).get(name, {}))
        torch.manual_seed(seed)
        enc, heads = dataset.make
        model = MultiTaskEnsemble(enc, heads, particles, dataset.losses, shared=method.shared).to(device)
        start = time.perf_counter()
        res = fit(model, method, dataset.train, epochs, val=dataset.val, checkpoint=out / f"{name}.pt",
                  resume=resume, seed=seed, progress=progress, **fit_options)  # fmt: skip
        seconds = time.perf_counter() - start
        nv = noise_variance(model, *dataset.train) if "mse" in dataset.losses else None
        test = evaluate(model, *dataset.test, noise_var=nv)
        probs = model.predict(dataset.test[0].to(device)) if "ce" in dataset.losses else None
        results["methods"][name] = {"test": test, "history": res.history, "best_epoch": res.best_epoch,
                                    "seconds": seconds, "method": repr(method)}  # fmt: skip
        if probs is not None:
            _save_reliability(out / f"reliability_{name}.png", probs, dataset, name)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    _save_curves(out / "training_curves.png", results)
    return results


def format_table(results: dict[str, Any]) -> str:
    """Per-task test metrics, one row per method and task."""
    first = next(iter(results["methods"].values()))["test"][0]
    cols = [c for c in ("accuracy", "ece", "brier", "nll", "mse", "gaussian_nll") if c in first]
    lines = [f"{'method':<14}{'task':<14}" + "".join(f"{c:>14}" for c in cols)]
    for name, r in results["methods"].items():
        for task, m in zip(results["tasks"], r["test"], strict=True):
            lines.append(f"{name:<14}{task:<14}" + "".join(f"{m[c]:>14.4f}" for c in cols))
    return "\n".join(lines)


def _save_reliability(path: Path, probs: list[Tensor], dataset: Dataset, name: str) -> None:
    from ..plotting import plot_reliability, pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, len(probs), figsize=(4 * len(probs), 4), squeeze=False)
    y = dataset.test[1]
    for k, (p, ax) in enumerate(zip(probs, axes[0], strict=True)):
        plot_reliability(p.mean(0).cpu(), y[:, k], ax=ax, label=name)
        ax.set_title(f"{name}: {dataset.task_names[k]}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _save_curves(path: Path, results: dict[str, Any]) -> None:
    from ..plotting import plot_training_curves, pyplot

    fig = plot_training_curves(results)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
