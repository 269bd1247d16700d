"""The one run loop every sampler shares: state, optimizer, history, callbacks, progress and checkpoints.

A sampler only says how the per-target scores become one direction (:meth:`Sampler.direction`); everything else
lives here. The update hands ``-direction`` to a ``torch.optim`` optimizer as the gradient, so ``"sgd"`` with
``lr=ε`` is exactly :math:`x \\leftarrow x + \\varepsilon \\phi(x)`.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .._checks import check_distinct, check_particles
from ..kernels import RBF, Kernel, KernelTerms
from ..pyro_models import check_same_layout
from ..stein import Target, _scores, ksd_from_terms, num_batched

__all__ = ["RunResult", "Sampler", "SamplerState"]

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
}
KERNEL_SPACES = ("particles", "log_densities")
FUSED = (torch.optim.Adam, torch.optim.AdamW, torch.optim.Adagrad)  # optimizers with a fused CPU/CUDA kernel
_OPTIMIZER_MODULE = importlib.import_module("torch.optim.optimizer")
_GLOBAL_HOOKS = (
    getattr(_OPTIMIZER_MODULE, "_global_optimizer_pre_hooks", None),
    getattr(_OPTIMIZER_MODULE, "_global_optimizer_post_hooks", None),
)
_FAST_ADAM = hasattr(torch, "_fused_adam_") and None not in _GLOBAL_HOOKS


def _optimizer_step(opt: torch.optim.Optimizer) -> None:
    """``opt.step()``; for a plain fused Adam on one tensor, the same fused kernel on the same state called directly.

    That skips ``torch.optim``'s per-call Python bookkeeping (hooks, grouping, profiling), which costs more than the
    update itself on small particle sets; the result is bit-identical (tested). Anything else, including an optimizer
    with hooks or one whose ``step`` a learning-rate scheduler wraps, takes the ordinary path.
    """
    group = opt.param_groups[0] if len(opt.param_groups) == 1 else None
    fast = (
        _FAST_ADAM
        and type(opt) is torch.optim.Adam
        and group is not None
        and len(group["params"]) == 1
        and group.get("fused")
        and not (group.get("amsgrad") or group.get("capturable") or group.get("differentiable"))
        and not group.get("decoupled_weight_decay", False)
        and isinstance(group["lr"], float)
        and "step" not in vars(opt)
        and not (opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks)
        and not (_GLOBAL_HOOKS[0] or _GLOBAL_HOOKS[1])
    )
    p = group["params"][0] if fast else None
    state = opt.state.get(p) if fast else None
    if not state or p.grad is None:
        opt.step()
        return
    state["step"].add_(1)
    beta1, beta2 = group["betas"]
    torch._fused_adam_(
        [p], [p.grad], [state["exp_avg"]], [state["exp_avg_sq"]], [], [state["step"]],
        amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
        eps=group["eps"], maximize=group["maximize"], grad_scale=None, found_inf=None,
    )  # fmt: skip


def _optimizer_class(optimizer: str | type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    if isinstance(optimizer, str):
        try:
            return OPTIMIZERS[optimizer.lower()]
        except KeyError:
            raise ValueError(
                f"unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)} "
                "or pass a torch.optim.Optimizer class"
            ) from None
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer
    raise TypeError(f"optimizer must be a name or a torch.optim.Optimizer class, got {optimizer!r}")


@dataclass
class SamplerState:
    """Everything needed to continue a run exactly: particles, optimizer, step count and history."""

    particles: Tensor
    optimizer: torch.optim.Optimizer
    step: int = 0
    history: dict[str, list[Tensor]] = field(default_factory=dict)
    sampler: str = ""

    def state_dict(self) -> dict[str, Any]:
        cls = type(self.optimizer)
        return {
            "particles": self.particles.detach().clone(),
            "optimizer_class": f"{cls.__module__}:{cls.__qualname__}",
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "history": {k: [v.detach().cpu() for v in vs] for k, vs in self.history.items()},
            "sampler": self.sampler,
        }

    @classmethod
    def from_state_dict(cls, sd: dict[str, Any], map_location: str | torch.device | None = None) -> SamplerState:
        module, name = sd["optimizer_class"].split(":")
        opt_cls = getattr(importlib.import_module(module), name)
        X = sd["particles"].to(map_location or sd["particles"].device).clone().requires_grad_(True)
        opt = opt_cls([X], lr=sd["optimizer"]["param_groups"][0]["lr"])
        opt.load_state_dict(sd["optimizer"])
        history = {k: [t.to(X.device) for t in v] for k, v in sd["history"].items()}  # one device, as in a run
        return cls(X, opt, sd["step"], history, sd["sampler"])

    def save(self, path: str | os.PathLike) -> None:
        """Write the state to ``path`` (atomically: a crash never leaves half a checkpoint)."""
        tmp = f"{os.fspath(path)}.tmp"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device | None = None) -> SamplerState:
        """Read a state written by :meth:`save`; continuing it gives bit-identical particles."""
        return cls.from_state_dict(torch.load(path, map_location="cpu", weights_only=False), map_location)


@dataclass
class RunResult:
    """Output of :meth:`Sampler.run`.

    ``history`` maps each diagnostic to a tensor with one row per step: ``weights`` (K,), ``bandwidth``,
    ``step_norm`` (root-mean-square particle displacement), ``log_density`` (mean log density per target, K)
    and ``ksd`` (K,) when asked for.
    """

    particles: Tensor
    history: dict[str, Tensor]
    state: SamplerState
    samples: dict[str, Tensor] | None = None
    """For Pyro targets: ``{site: (M, *site_shape)}``, detached and constrained (see :func:`stein_mo.from_pyro`)."""


class Sampler:
    r"""Base class: K targets, a kernel, and :meth:`direction` to be defined by each method.

    ``bounds=(lower, upper)`` (numbers or (d,) tensors) clamps the particles after every step, as the MOO-SVGD
    reference does for box-constrained problems. ``kernel_on="log_densities"`` computes the kernel on the vector
    of negative log densities :math:`(-\log p_k(x))_k` instead of on x (for objective targets: on the objective
    values, up to the temperature, which the median heuristic absorbs), so that the repulsion spreads the particles
    in objective space only (the MOO-SVGD reference's choice); see :meth:`Kernel.feature_terms`.
    """

    def __init__(
        self,
        targets: Sequence[Target] | Target,
        kernel: Kernel | None = None,
        bounds: tuple[float | Tensor, float | Tensor] | None = None,
        kernel_on: str = "particles",
    ) -> None:
        K = num_batched(targets)
        if K is None:
            targets = list(targets)
            K = len(targets)
            if not targets:
                raise ValueError(f"{type(self).__name__} needs at least one target")
            for k, t in enumerate(targets):
                if not callable(t):
                    raise TypeError(f"target {k} is not callable: {t!r}")
        self.num_targets = K
        if K > 1 and not num_batched(targets):
            check_same_layout(targets)
        if kernel is not None and not isinstance(kernel, Kernel):
            raise TypeError(f"kernel must be a stein_mo kernel (RBF, IMQ, ...), got {kernel!r}")
        self.targets = targets
        self.kernel = kernel if kernel is not None else RBF()
        if bounds is not None:
            lo, hi = (torch.as_tensor(b, dtype=torch.float64) for b in bounds)
            if not (lo < hi).all():
                raise ValueError(f"bounds must satisfy lower < upper everywhere, got {bounds}")
        self.bounds = bounds
        if kernel_on not in KERNEL_SPACES:
            raise ValueError(f"kernel_on must be one of {KERNEL_SPACES}, got {kernel_on!r}")
        self.kernel_on = kernel_on

    needs_trace = True
    """Whether :meth:`direction` uses the kernel's trace term (the Gramian does; SVGD's direction does not)."""

    def direction(self, terms: KernelTerms, S: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Combine the scores ``S`` (K, M, d) into one (M, d) direction, plus diagnostics."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------------- loop
    def _bounds_like(self, X: Tensor) -> tuple[Tensor, Tensor]:
        lo, hi = self.bounds
        return torch.as_tensor(lo, dtype=X.dtype, device=X.device), torch.as_tensor(hi, dtype=X.dtype, device=X.device)

    def init(
        self,
        x0: Tensor,
        optimizer: str | type[torch.optim.Optimizer] = "adam",
        lr: float = 1e-2,
        **optimizer_kwargs: Any,
    ) -> SamplerState:
        """Start a run from particles ``x0`` (M, d); checks shape, finiteness and distinctness."""
        check_particles(x0, "x0")
        check_distinct(x0, "x0")
        if self.bounds is not None:
            lo, hi = self._bounds_like(x0)
            outside = ((x0 < lo) | (x0 > hi)).any(1)
            if outside.any():
                raise ValueError(f"{int(outside.sum())} of {len(x0)} initial particles lie outside the bounds")
        X = x0.detach().clone().requires_grad_(True)
        cls = _optimizer_class(optimizer)
        if cls in FUSED and X.device.type in ("cpu", "cuda") and not {"fused", "foreach"} & optimizer_kwargs.keys():
            optimizer_kwargs["fused"] = True  # same update, one kernel instead of a dozen small ones
        return SamplerState(X, cls([X], lr=lr, **optimizer_kwargs), sampler=type(self).__name__)

    def step(self, state: SamplerState, ksd: bool = False) -> dict[str, Tensor]:
        """One update of ``state`` in place; returns this step's diagnostics (also appended to its history)."""
        X = state.particles
        x = X.detach()  # shares storage with X: the optimizer's update shows in x
        before = x.clone()
        logp, S = _scores(self.targets, x)
        trace = ksd or self.needs_trace
        if self.kernel_on == "particles":
            terms = self.kernel.terms(x, trace)
        else:  # features U = -log p_k(x) (the objectives, for objective targets), Jacobians -S
            terms = self.kernel.feature_terms(-logp.T, -S.transpose(0, 1), trace)
        phi, info = self.direction(terms, S)
        if ksd and "ksd" not in info:
            info["ksd"] = ksd_from_terms(terms, S)
        X.grad = phi.neg_()
        _optimizer_step(state.optimizer)
        if self.bounds is not None:  # box constraints: clamp after the step, as the MOO-SVGD reference code does
            with torch.no_grad():
                X.clamp_(*self._bounds_like(X))
        info["bandwidth"] = terms.bandwidth
        info["log_density"] = logp.mean(1)
        info["step_norm"] = torch.dist(x, before).div_(math.sqrt(x.shape[0]))
        if not ksd:
            info.pop("ksd", None)
        state.step += 1
        history = state.history
        for key, value in info.items():
            history.setdefault(key, []).append(value)  # all computed without autograd: nothing to detach
        return info

    def run(
        self,
        x0: Tensor | SamplerState,
        steps: int,
        optimizer: str | type[torch.optim.Optimizer] = "adam",
        lr: float = 1e-2,
        progress: bool = False,
        callback: Callable[[SamplerState, dict[str, Tensor]], bool | None] | None = None,
        ksd: bool = False,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
    ) -> RunResult:
        """Run ``steps`` updates from particles ``x0`` (M, d), or continue a :class:`SamplerState`.

        ``optimizer`` is ``"adam"``, ``"sgd"``, ``"adagrad"``, ``"rmsprop"`` or a ``torch.optim`` class (ignored,
        with ``lr``, when continuing a state). ``callback(state, info)`` runs after every step and stops the run by
        returning ``True``. ``checkpoint`` is a file written every ``checkpoint_every`` steps and at the end;
        resume with ``run(SamplerState.load(path), more_steps)``.
        """
        if isinstance(x0, SamplerState):
            state = x0
            if state.sampler and state.sampler != type(self).__name__:
                raise ValueError(f"this state was produced by {state.sampler}, not {type(self).__name__}")
        else:
            state = self.init(x0, optimizer, lr)
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        from tqdm.auto import tqdm

        with tqdm(total=steps, disable=not progress, desc=type(self).__name__) as bar:
            for i in range(steps):
                info = self.step(state, ksd=ksd)
                bar.update()
                if checkpoint is not None and checkpoint_every and (i + 1) % checkpoint_every == 0:
                    state.save(checkpoint)
                if callback is not None and callback(state, info):
                    break
        if checkpoint is not None:
            state.save(checkpoint)
        history = {k: torch.stack(v).cpu() for k, v in state.history.items()}
        particles = state.particles.detach().clone()
        first = self.targets if num_batched(self.targets) else self.targets[0]
        samples = None
        if hasattr(first, "constrain"):
            with torch.no_grad():
                samples = {k: v.detach() for k, v in first.constrain(particles).items()}
        return RunResult(particles, history, state, samples)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(K={self.num_targets}, kernel={self.kernel!r})"
