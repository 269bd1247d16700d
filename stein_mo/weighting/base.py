"""The one interface of the weighting library: a Gramian G = J Jᵀ goes in, weights w come out, A(J) = Jᵀ w.

Seed 003 (Quinton & Rey) shows that every weighted aggregator of its Table 1 depends on J only through G, so the
same object weights a model's per-task gradients and the RKHS Gramian U of MT-SGD. Each class states, as class
attributes, which of seed 003's three properties it has; the test suite checks every claim, both ways.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from ..qp import check_gramian

__all__ = ["JacobianAggregator", "Method", "Weighting", "check_preference"]


class Method:
    """What every combination method shares: seed 003's property flags, ``reset`` and an exact ``repr``."""

    non_conflicting: bool = False
    """:math:`J A(J) \\ge 0` for every J: no objective increases to first order."""
    linear_under_scaling: bool = False
    """:math:`c \\mapsto A(\\operatorname{diag}(c) J)` is linear on :math:`c > 0`."""
    weighted: bool = True
    """:math:`A(J)` lies in the row span of J."""
    homogeneous: bool = True
    """:math:`A(sJ) = s A(J)` for :math:`s > 0` (False: :math:`A(sJ) = A(J)`, as for Nash-MTL)."""

    def reset(self) -> None:
        """Forget any state (a no-op for stateless methods)."""

    def state_dict(self) -> dict[str, Any]:
        """The running state (the private attributes, a generator's state), for exact checkpoints."""
        return {
            k: v.get_state() if isinstance(v, torch.Generator) else copy.deepcopy(v)
            for k, v in vars(self).items()
            if k.startswith("_")
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        for k, v in state.items():
            current = getattr(self, k, None)
            if isinstance(current, torch.Generator):
                current.set_state(v)
            else:
                setattr(self, k, copy.deepcopy(v))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Weighting(Method):
    """Gramian (…, m, m) → weights (…, m); batched over leading dimensions unless ``batched`` is False."""

    batched: bool = True

    def __call__(self, G: Tensor) -> Tensor:
        """Weights for the Gramian ``G``; raises on non-square, empty or non-finite input."""
        check_gramian(G)
        if not self.batched and G.ndim != 2:
            raise ValueError(f"{type(self).__name__} takes one (m, m) Gramian, got {tuple(G.shape)}")
        return self.weights(G)

    def weights(self, G: Tensor) -> Tensor:
        """:meth:`__call__` without input checks, for inner loops that hold a finite Gramian."""
        raise NotImplementedError


class JacobianAggregator(Method):
    """Jacobian (…, m, n) → update (…, n), batched over leading dimensions, for the methods that need more than the
    Gramian (GradDrop, MoCo).

    It cannot be used inside the samplers, which only have a Gramian.
    """

    weighted: bool = False

    def __call__(self, J: Tensor) -> Tensor:
        raise NotImplementedError


def check_preference(pref: Tensor | None, G: Tensor) -> Tensor:
    """The preference vector as a (m,) tensor on G's device and dtype; uniform 1/m when ``None``."""
    m = G.shape[-1]
    if pref is None:
        return torch.full((m,), 1.0 / m, dtype=G.dtype, device=G.device)
    pref = torch.as_tensor(pref, dtype=G.dtype, device=G.device)
    if pref.shape != (m,):
        raise ValueError(f"preference vector must have shape ({m},) for {m} objectives, got {tuple(pref.shape)}")
    if not torch.isfinite(pref).all() or (pref < 0).any():
        raise ValueError(f"preference vector must be finite and non-negative, got {pref.tolist()}")
    return pref
