r"""ZDT1, ZDT2 and ZDT3 (Zitzler, Deb & Thiele, 2000): two objectives of :math:`x \in [0, 1]^n`, n = 30.

.. math:: f_1 = x_1, \quad g = 1 + \tfrac{9}{n-1} \sum_{i \ge 2} x_i, \quad f_2 = g\, h(f_1, g), \qquad
          h = 1 - \sqrt{f_1/g}\ (\text{ZDT1}), \quad 1 - (f_1/g)^2\ (\text{ZDT2}), \quad
          1 - \sqrt{f_1/g} - (f_1/g)\sin(10\pi f_1)\ (\text{ZDT3}).

The Pareto set is :math:`x_{2..n} = 0` (g = 1). ZDT3's front is the non-dominated part of :math:`f_2 = 1 -
\sqrt{f_1} - f_1 \sin(10\pi f_1)`: five disjoint intervals of :math:`x_1`, computed by :meth:`ZDT.front_intervals`.
The square root is evaluated as :math:`\sqrt{\max(f_1/g, 10^{-12})}` so that its gradient stays finite at the
bound :math:`x_1 = 0`, which clamping reaches; the objectives differ from the exact ones only for
:math:`x_1 < 10^{-12}`, by less than :math:`10^{-6}`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..metrics import non_dominated

__all__ = ["ZDT", "objective_targets"]

FLOOR = 1e-12


class ZDT:
    """ZDT problem ``k`` (1, 2 or 3) on [0, 1]^n; ``zdt(x)`` maps (…, n) to objectives (…, 2).

    >>> import torch
    >>> ZDT(1)(torch.zeros(30, dtype=torch.float64)).tolist()  # x1 = 0 on the Pareto set: (0, 1)
    [0.0, 0.999999]
    """

    bounds = (0.0, 1.0)

    def __init__(self, k: int, n: int = 30) -> None:
        if k not in (1, 2, 3) or n < 2:
            raise ValueError(f"ZDT needs k in (1, 2, 3) and n >= 2, got k={k}, n={n}")
        self.k, self.n = k, n
        self.__name__ = f"ZDT{k}"

    def __call__(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.n:
            raise ValueError(f"{self.__name__} has {self.n} variables, got particles of shape {tuple(x.shape)}")
        f1 = x[..., 0]
        g = 1 + 9 / (self.n - 1) * x[..., 1:].sum(-1)
        r = f1 / g
        if self.k == 2:
            h = 1 - r**2
        else:
            h = 1 - r.clamp_min(FLOOR).sqrt()
            if self.k == 3:
                h = h - r * torch.sin(10 * math.pi * f1)
        return torch.stack([f1, g * h], -1)

    def front(self, num: int = 2000, dtype: torch.dtype = torch.float64) -> Tensor:
        """Points (·, 2) of the true Pareto front (g = 1); ZDT3's dominated stretches are removed."""
        x = torch.zeros(num, self.n, dtype=dtype)
        x[:, 0] = torch.linspace(0.0, 1.0, num, dtype=dtype)
        F = self(x)
        return F[torch.as_tensor(non_dominated(F))]

    def front_intervals(self, num: int = 200_001) -> list[tuple[float, float]]:
        """The x1 intervals of the Pareto set, found on a grid of ``num`` points (one interval for ZDT1 and 2)."""
        x1 = torch.linspace(0.0, 1.0, num, dtype=torch.float64)
        x = torch.zeros(num, self.n, dtype=torch.float64)
        x[:, 0] = x1
        keep = torch.as_tensor(non_dominated(self(x)))
        edges = torch.diff(keep.int(), prepend=torch.tensor([0]), append=torch.tensor([0]))
        starts, ends = (edges == 1).nonzero().flatten(), (edges == -1).nonzero().flatten() - 1
        return [(float(x1[a]), float(x1[b])) for a, b in zip(starts, ends, strict=True)]


def objective_targets(objectives, num_objectives: int, temperature: float = 1.0):
    r"""Objectives :math:`f_1..f_K` as K sampling targets :math:`p_k(x) \propto \exp(-f_k(x)/T)`, batched.

    ``objectives`` maps (…, d) to (…, K). The result is a batched target (``num_targets = K``) that every sampler
    accepts: MT-SGD then looks for the region where all :math:`f_k` are low, MOO-SVGD for the Pareto set. Lower
    T sharpens every target around its minimisers; T does not change the Pareto set.

    >>> import torch
    >>> t = objective_targets(ZDT(1), 2)
    >>> t(torch.zeros(2, 5, 30)).shape  # (K, M)
    torch.Size([2, 5])
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")

    def log_densities(x: Tensor) -> Tensor:
        F = objectives(x)  # (K, M, K) on the per-target copies
        return -F.diagonal(dim1=0, dim2=-1).T / temperature if x.ndim == 3 else -F.T / temperature

    log_densities.num_targets = num_objectives
    log_densities.__name__ = f"exp(-{getattr(objectives, '__name__', 'f')}/{temperature:g})"
    log_densities.names = [f"exp(-f{k + 1}/T)" for k in range(num_objectives)]
    return log_densities
