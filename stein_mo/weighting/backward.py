r"""Training with a weighting: per-task gradients in one vmapped backward pass, aggregated into ``.grad``.

* :func:`jacobian` — the (K, n) matrix of per-task gradients with respect to some parameters, from one backward
  pass batched over the K tasks (``torch.autograd.grad(..., is_grads_batched=True)``, which runs the backward
  under ``torch.func.vmap``) instead of K calls to ``backward``.
* :func:`mtl_backward` — in the style of TorchJD's ``mtl_backward``: shared parameters receive
  :math:`A(J)`, the aggregation of the per-task gradients by any weighting; task-specific parameters receive the
  gradient of :math:`\sum_k L_k` (each head only sees its own loss).
* :func:`mgda_ub_backward` — seed 002's MGDA-UB (§3.3): the weights come from the Gramian of the gradients with
  respect to the shared *representation* z (cheap: one backward through the heads only), and the encoder then
  receives the gradient of :math:`\sum_k w_k L_k`, an upper bound's min-norm combination.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from .base import JacobianAggregator, Weighting
from .registry import get_weighting

__all__ = ["jacobian", "mgda_ub_backward", "mtl_backward"]


def _check_losses(losses: Tensor) -> Tensor:
    if not isinstance(losses, Tensor) or losses.ndim != 1 or losses.numel() == 0:
        shape = tuple(losses.shape) if isinstance(losses, Tensor) else type(losses).__name__
        raise ValueError(f"losses must be a non-empty 1-D tensor, one entry per task; got {shape}")
    if not losses.requires_grad:
        raise ValueError("losses do not require grad: compute them from parameters that require grad")
    if not torch.isfinite(losses.detach()).all():
        bad = (~torch.isfinite(losses.detach())).nonzero().flatten().tolist()
        raise ValueError(f"non-finite losses for tasks {bad}")
    return losses


def _params(params: Iterable[Tensor]) -> list[Tensor]:
    params = list(params)
    if not params:
        raise ValueError("no parameters given")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor) or not p.requires_grad:
            raise ValueError(f"parameter {i} is not a tensor that requires grad")
    return params


def jacobian(losses: Tensor, params: Iterable[Tensor] | Tensor, retain_graph: bool = False) -> Tensor:
    r"""Per-task gradients :math:`J_{k\cdot} = \nabla_\theta L_k`, flattened and concatenated: (K, n).

    >>> import torch
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> jacobian(torch.stack([w.sum(), (w**2).sum()]), [w]).tolist()
    [[1.0, 1.0], [2.0, 4.0]]
    """
    losses = _check_losses(losses)
    params = _params([params] if isinstance(params, Tensor) else params)
    basis = torch.eye(len(losses), dtype=losses.dtype, device=losses.device)
    grads = torch.autograd.grad(
        losses, params, grad_outputs=basis, is_grads_batched=True, retain_graph=retain_graph, allow_unused=True
    )
    return torch.cat(
        [
            (g if g is not None else torch.zeros(len(losses), *p.shape, dtype=p.dtype, device=p.device)).flatten(1)
            for g, p in zip(grads, params, strict=True)
        ],
        1,
    )


def _accumulate(params: Sequence[Tensor], flat: Tensor) -> None:
    offset = 0
    for p in params:
        g = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
        p.grad = g.clone() if p.grad is None else p.grad + g


def mtl_backward(
    losses: Tensor,
    shared_params: Iterable[Tensor],
    task_params: Iterable[Tensor] = (),
    method: str | Weighting | JacobianAggregator = "upgrad",
    retain_graph: bool = False,
    **options: Any,
) -> Tensor:
    """Accumulate :math:`A(J)` into the shared parameters' ``.grad`` and :math:`\\nabla \\sum_k L_k` into the
    task-specific ones'; returns the weights (NaN for GradDrop, which has none).

    >>> import torch
    >>> shared = torch.nn.Linear(3, 4)
    >>> heads = torch.nn.ModuleList([torch.nn.Linear(4, 1) for _ in range(2)])
    >>> z = shared(torch.randn(8, 3))
    >>> losses = torch.stack([h(z).pow(2).mean() for h in heads])
    >>> w = mtl_backward(losses, shared.parameters(), heads.parameters(), method="upgrad")
    >>> shared.weight.grad.shape, heads[0].weight.grad is not None
    (torch.Size([4, 3]), True)
    """
    losses = _check_losses(losses)
    shared, task = _params(shared_params), list(task_params)
    if task:
        task = _params(task)
        task_grads = torch.autograd.grad(losses.sum(), task, retain_graph=True, allow_unused=True)
        for p, g in zip(task, task_grads, strict=True):
            if g is not None:
                p.grad = g if p.grad is None else p.grad + g
    J = jacobian(losses, shared, retain_graph=retain_graph)
    if not torch.isfinite(J).all():
        raise ValueError("the per-task gradients of the shared parameters are not finite")
    method = get_weighting(method, **options)
    if isinstance(method, JacobianAggregator):
        _accumulate(shared, method(J))
        return torch.full((len(losses),), float("nan"), dtype=J.dtype, device=J.device)  # no weights exist
    w = method.weights(J @ J.T)
    _accumulate(shared, J.T @ w)
    return w


def mgda_ub_backward(
    losses: Tensor,
    features: Tensor,
    shared_params: Iterable[Tensor],
    task_params: Iterable[Tensor] = (),
    method: str | Weighting = "mgda",
    **options: Any,
) -> Tensor:
    """MGDA-UB (seed 002, §3.3): weights from the Gramian of :math:`\\partial L_k / \\partial z`, with ``features``
    the shared representation z; then ``backward`` of :math:`\\sum_k w_k L_k`. Returns the weights."""
    losses = _check_losses(losses)
    if not isinstance(features, Tensor) or not features.requires_grad:
        raise ValueError("features must be the shared representation, a tensor that requires grad")
    Jz = jacobian(losses, [features], retain_graph=True)
    w = get_weighting(method, **options).weights(Jz @ Jz.T).detach()
    params = _params(shared_params) + list(task_params)
    grads = torch.autograd.grad((w * losses).sum(), params, allow_unused=True)
    for p, g in zip(params, grads, strict=True):
        if g is not None:
            p.grad = g if p.grad is None else p.grad + g
    return w
