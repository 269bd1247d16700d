r"""Training loop for multi-task ensembles: minibatches, optimiser and schedule, optional warm-up, evaluation,
model selection on a validation split, and exact checkpoint/resume.

Selection never looks at the test split: ``fit`` only sees ``train`` and ``val``; with ``select`` set it keeps the
epoch whose validation score (mean over tasks of the ensemble's NLL, Gaussian NLL for regression) is lowest.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..metrics.calibration import accuracy, brier, ece, gaussian_nll, member_metrics, mse, nll
from .methods import TrainingMethod, WeightedEnsemble, get_method, preference_vectors
from .multitask import MultiTaskEnsemble

__all__ = ["FitResult", "evaluate", "fit", "noise_variance"]

SCHEDULES = (None, "cosine", "step")


@dataclass
class FitResult:
    """What :func:`fit` returns: the (selected) model, one record per epoch, and the selected epoch."""

    model: MultiTaskEnsemble
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None


def evaluate(
    model: MultiTaskEnsemble, x: Tensor, y: Tensor, n_bins: int = 10, noise_var: Tensor | None = None
) -> list[dict[str, float]]:
    """Per-task metrics of the ensemble's averaged predictive and the members' mean.

    Classification: ``accuracy``, ``ece`` (right-closed bins), ``brier``, ``nll``, and ``member_*`` means.
    Regression: ``mse`` of the ensemble mean and ``gaussian_nll`` with variance = members' variance + ``noise_var``
    (K,) (default: each task's training MSE is not known here, so 1e-6 — pass it).
    """
    model.eval()
    dev = model.encoder.params[0].device
    preds = model.predict(x.to(dev))
    y = y.to(dev)
    out = []
    for k, (p, loss) in enumerate(zip(preds, model.losses, strict=True)):
        yk = y[:, k]
        if loss == "ce":
            q = p.mean(0)
            row = {"accuracy": accuracy(q, yk), "ece": ece(q, yk, n_bins), "brier": brier(q, yk), "nll": nll(q, yk)}
            row.update({f"member_{n}": v.mean() for n, v in member_metrics(p, yk, n_bins).items()})
        else:
            mean, var = p.mean(0), p.var(0, unbiased=False)
            nv = 1e-6 if noise_var is None else float(noise_var[k])
            row = {"mse": mse(mean, yk), "gaussian_nll": gaussian_nll(mean, var + nv, yk)}
            row["member_mse"] = (p - yk).pow(2).mean()
        out.append({n: float(v) for n, v in row.items()})
    model.train()
    return out


def _score(metrics: list[dict[str, float]]) -> float:
    return sum(m.get("nll", m.get("gaussian_nll", math.inf)) for m in metrics) / len(metrics)


def _optimizer(name: str, params, lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


def _scheduler(name: str | None, opt, epochs: int, milestones, gamma: float):
    if name is None:
        return None
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    if name == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=gamma)
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")


def _check_data(model: MultiTaskEnsemble, x: Tensor, y: Tensor, what: str) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{what}: {x.shape[0]} inputs but {y.shape[0]} label rows")
    if y.ndim != 2 or y.shape[1] != model.num_tasks:
        raise ValueError(f"{what}: labels must be (N, K={model.num_tasks}), got {tuple(y.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{what}: no examples")


def fit(
    model: MultiTaskEnsemble,
    method: str | TrainingMethod,
    train: tuple[Tensor, Tensor],
    epochs: int,
    *,
    val: tuple[Tensor, Tensor] | None = None,
    batch_size: int = 256,
    optimizer: str = "adam",
    lr: float = 1e-3,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str | None = None,
    milestones: tuple[int, ...] = (15, 30, 45, 60, 75, 90),
    gamma: float = 0.5,
    warmup_epochs: int = 0,
    select: bool = False,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    n_bins: int = 10,
) -> FitResult:
    """Train ``model`` with ``method`` (a name from :data:`~stein_mo.ensembles.METHODS`, a weighting's name, or a
    :class:`~stein_mo.ensembles.TrainingMethod`) for ``epochs`` epochs.

    ``warmup_epochs`` first epochs use linear scalarisation with member-wise preferences ``(t, 1 - t)``, spread
    over the members (the reference code's warm-up). ``schedule`` steps once per epoch. With ``checkpoint`` the
    full state (model, optimiser, schedule, shuffling generator, history, selected model) is written after every
    epoch; ``resume=True`` continues from it and gives the same result as an uninterrupted run.

    >>> import torch
    >>> from stein_mo.ensembles import MultiTaskEnsemble, fit
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> x, y = torch.randn(64, 4), torch.randint(0, 3, (64, 2))
    >>> model = MultiTaskEnsemble(lambda: torch.nn.Linear(4, 8), [lambda: torch.nn.Linear(8, 3)] * 2, 3)
    >>> result = fit(model, "mt-sgd", (x, y), epochs=2, batch_size=32, progress=False)
    >>> len(result.history), sorted(result.history[-1])
    (2, ['epoch', 'lr', 'train_loss'])
    """
    method = get_method(method)
    if method.shared != model.shared:
        raise ValueError(f"{method.name} needs MultiTaskEnsemble(shared={method.shared})")
    if epochs < 0 or warmup_epochs < 0:
        raise ValueError("epochs and warmup_epochs must be non-negative")
    if select and val is None:
        raise ValueError("select=True needs a validation split (val=...); the test split is never used to select")
    x, y = train
    _check_data(model, x, y, "train")
    method.num_data = x.shape[0]
    if val is not None:
        _check_data(model, *val, "val")
    dev = model.encoder.params[0].device
    method.setup(model)  # what the method learns alongside the model (UW's task scales) is optimised with it
    opt = _optimizer(optimizer, [*model.parameters(), *method.parameters()], lr, momentum, weight_decay)
    sched = _scheduler(schedule, opt, epochs, milestones, gamma)
    gen = torch.Generator().manual_seed(seed)
    warm = WeightedEnsemble(None, preference_vectors(model.num_tasks, model.num_particles, "simplex"))
    result, start, best_score, best_state = FitResult(model), 0, math.inf, None
    if resume:
        if checkpoint is None or not Path(checkpoint).exists():
            raise FileNotFoundError(f"resume=True but there is no checkpoint at {checkpoint}")
        state = torch.load(checkpoint, map_location=dev, weights_only=False)
        if state["method"] != method.name:
            raise ValueError(f"checkpoint was written by method {state['method']!r}, not {method.name!r}")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        method.load_state_dict(state["method_state"])
        torch.set_rng_state(state["torch_rng"])
        result.history, result.best_epoch = state["history"], state["best_epoch"]
        best_score, best_state, start = state["best_score"], state["best_state"], state["epoch"]
    from tqdm.auto import tqdm

    N = x.shape[0]
    model.train()
    for epoch in range(start, epochs):
        rule = warm if epoch < warmup_epochs and model.shared else method
        order = torch.randperm(N, generator=gen)
        total = torch.zeros(model.num_particles, model.num_tasks, dtype=torch.float64)  # per member
        bar = tqdm(order.split(batch_size), desc=f"{method.name} epoch {epoch + 1}/{epochs}", disable=not progress,
                   leave=False)  # fmt: skip
        for idx in bar:
            xb, yb = x[idx].to(dev, non_blocking=True), y[idx].to(dev, non_blocking=True)
            losses = rule.step(model, xb, yb, opt)
            if not torch.isfinite(losses).all():
                raise FloatingPointError(f"{method.name}: non-finite task losses {losses.mean(0).tolist()} in epoch "
                                         f"{epoch + 1}; lower the learning rate")  # fmt: skip
            opt.step()
            opt.zero_grad(set_to_none=True)
            total += losses.detach().double().cpu() * len(idx)
            bar.set_postfix(loss=f"{float(losses.mean()):.3f}")
        lr_now = opt.param_groups[0]["lr"]
        method.end_epoch(total / N)
        record: dict[str, Any] = {"epoch": epoch + 1, "lr": lr_now, "train_loss": (total.mean(0) / N).tolist()}
        if sched is not None:
            sched.step()
        if val is not None:
            record["val"] = evaluate(model, *val, n_bins=n_bins)
            score = _score(record["val"])
            if select and score < best_score:
                best_score, best_state, result.best_epoch = score, copy.deepcopy(model.state_dict()), epoch + 1
        result.history.append(record)
        if checkpoint is not None:
            _save(checkpoint, {
                "method": method.name, "epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None, "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(), "history": result.history, "best_epoch": result.best_epoch,
                "best_score": best_score, "best_state": best_state, "method_state": method.state_dict(),
            })  # fmt: skip
    if select and best_state is not None:
        model.load_state_dict(best_state)
    return result


def _save(path: str | os.PathLike, state: dict) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def noise_variance(model: MultiTaskEnsemble, x: Tensor, y: Tensor) -> Tensor:
    """Per-task noise variance for regression NLL: the ensemble mean's training MSE."""
    preds = model.predict(x.to(model.encoder.params[0].device))
    return torch.stack([(p.mean(0).cpu() - y[:, k]).pow(2).mean() for k, p in enumerate(preds)])
