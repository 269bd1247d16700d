r"""Loss balancing (seed 004, part 1): combine the K task losses into one scalar, with few or no extra parameters.

========  ==========================================================================================
``UW``    uncertainty weights (Kendall et al., 2018): :math:`\sum_k \tfrac12 e^{-s_k} L_k + \tfrac12 s_k`,
          :math:`s_k = \log\sigma_k^2` learned
``DWA``   dynamic weight average (Liu et al., 2019): :math:`\lambda_k = K \operatorname{softmax}_k(r_k / T)`,
          :math:`r_k = L_k(t-1)/L_k(t-2)`, weights 1 for the first two updates
``GLS``   geometric loss strategy (Chennupati et al., 2019): :math:`(\prod_k L_k)^{1/K}`
``STCH``  smooth Tchebycheff (Lin et al., 2024): warm-up on :math:`\sum_k \log L_k` recording the mean losses as
          the nadir vector, then :math:`K \mu \log \sum_k \exp(\log(L_k / \text{nadir}_k) / \mu)`
``IMTLL`` IMTL-L (Liu et al., 2021): :math:`\sum_k e^{s_k} L_k - s_k`, learned :math:`s_k`, so that the scaled
          losses :math:`e^{s_k} L_k` are driven to 1
========  ==========================================================================================

Each is called on the (K,) tensor of losses and returns the scalar to ``backward``. Losses (…, K) with leading
dimensions — one row per ensemble member — give one value per row (…), with per-row state (``batch_shape`` for
the learned scales of UW and IMTL-L).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["DWA", "GLS", "IMTLL", "STCH", "UW"]


def _losses(losses: Tensor, K: int | None = None, batch_shape: tuple[int, ...] | None = None) -> Tensor:
    """``losses`` (…, K) after checks; ``batch_shape`` (the learned scales' leading shape) must broadcast to it."""
    ok = isinstance(losses, Tensor) and losses.ndim >= 1 and (K is None or losses.shape[-1] == K)
    if ok and batch_shape:
        ok = losses.shape[:-1] == batch_shape
    if not ok:
        shape = tuple(losses.shape) if isinstance(losses, Tensor) else type(losses).__name__
        lead = f"{batch_shape} + " if batch_shape else "(…) + "
        raise ValueError(f"losses must be a tensor of shape {lead}({K or 'K'},) task losses, got {shape}")
    if not torch.isfinite(losses.detach()).all():
        raise ValueError(f"non-finite task losses: {losses.detach().tolist()}")
    return losses


class UW(nn.Module):
    """Uncertainty weighting with learnable log-variances ``log_var`` of shape ``(*batch_shape, K)``, initialised at 0.

    >>> uw = UW(2)
    >>> uw(torch.tensor([2.0, 4.0])).item()  # s = 0: (2 + 4) / 2
    3.0
    """

    def __init__(self, num_tasks: int, batch_shape: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.log_var = nn.Parameter(torch.zeros(*batch_shape, num_tasks))

    def forward(self, losses: Tensor) -> Tensor:
        losses = _losses(losses, self.log_var.shape[-1], tuple(self.log_var.shape[:-1]))
        s = self.log_var.to(losses)
        return (0.5 * torch.exp(-s) * losses + 0.5 * s).sum(-1)


class IMTLL(nn.Module):
    """IMTL-L with learnable scales ``s`` of shape ``(*batch_shape, K)``, initialised at 0.

    >>> IMTLL(2)(torch.tensor([2.0, 4.0])).item()
    6.0
    """

    def __init__(self, num_tasks: int, batch_shape: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.zeros(*batch_shape, num_tasks))

    def forward(self, losses: Tensor) -> Tensor:
        losses = _losses(losses, self.s.shape[-1], tuple(self.s.shape[:-1]))
        s = self.s.to(losses)
        return (torch.exp(s) * losses - s).sum(-1)


class GLS:
    """Geometric mean of the losses (all must be positive).

    >>> GLS()(torch.tensor([1.0, 4.0])).item()
    2.0
    """

    def __call__(self, losses: Tensor) -> Tensor:
        losses = _losses(losses)
        if (losses.detach() <= 0).any():
            raise ValueError("GLS needs positive losses (it takes their geometric mean)")
        return torch.exp(torch.log(losses).mean(-1))


class DWA:
    """Dynamic weight average with temperature ``T``. Call :meth:`update` once per epoch with the epoch's mean
    losses; :meth:`weights` are the current :math:`\\lambda`, and calling the object returns
    :math:`\\sum_k \\lambda_k L_k`.

    >>> dwa = DWA(T=2.0)
    >>> for epoch_losses in ([1.0, 1.0], [1.0, 0.5]):
    ...     dwa.update(torch.tensor(epoch_losses))
    >>> [round(w, 4) for w in dwa.weights(2).tolist()]  # task 1 stalled (ratio 1), task 2 halved (0.5)
    [1.1244, 0.8756]
    """

    def __init__(self, T: float = 2.0) -> None:
        if not T > 0:
            raise ValueError(f"T must be positive, got {T}")
        self.T = T
        self._history: list[Tensor] = []

    def reset(self) -> None:
        self._history = []

    def update(self, epoch_losses: Tensor) -> None:
        self._history = [*self._history[-1:], _losses(epoch_losses).detach().clone()]

    def state_dict(self) -> dict:
        return {"history": list(self._history)}

    def load_state_dict(self, state: dict) -> None:
        self._history = list(state["history"])

    def weights(self, num_tasks: int) -> Tensor:
        if len(self._history) < 2:
            return torch.ones(num_tasks)
        prev, last = self._history
        return num_tasks * torch.softmax(last / prev / self.T, -1)

    def __call__(self, losses: Tensor) -> Tensor:
        losses = _losses(losses)
        return (self.weights(losses.shape[-1]).to(losses) * losses).sum(-1)


class STCH:
    """Smooth Tchebycheff scalarisation with smoothing ``mu`` after ``warmup`` calls; the nadir vector is the mean
    of the losses over the last ``window`` warm-up calls (the reference code averages its last warm-up epoch).

    >>> stch = STCH(mu=1.0, warmup=1, window=1)
    >>> round(stch(torch.tensor([1.0, 2.0])).item(), 4)  # warm-up: sum of log-losses, nadir = (1, 2)
    0.6931
    >>> round(stch(torch.tensor([1.0, 2.0])).item(), 4)  # at the nadir: 2 * log(1 + 1)
    1.3863
    """

    def __init__(self, mu: float = 1.0, warmup: int = 100, window: int | None = None) -> None:
        if not mu > 0 or warmup < 1:
            raise ValueError(f"need mu > 0 and warmup >= 1, got {mu}, {warmup}")
        self.mu, self.warmup, self.window = mu, warmup, window or warmup
        self.reset()

    def reset(self) -> None:
        self._calls, self._sum, self._count, self.nadir = 0, None, 0, None

    def state_dict(self) -> dict:
        return {"calls": self._calls, "sum": self._sum, "count": self._count, "nadir": self.nadir}

    def load_state_dict(self, state: dict) -> None:
        self._calls, self._sum, self._count, self.nadir = state["calls"], state["sum"], state["count"], state["nadir"]

    def __call__(self, losses: Tensor) -> Tensor:
        losses = _losses(losses)
        if (losses.detach() <= 0).any():
            raise ValueError("STCH needs positive losses (it takes their logarithms)")
        self._calls += 1
        if self._calls <= self.warmup:
            if self._calls > self.warmup - self.window:
                d = losses.detach()
                self._sum = d.clone() if self._sum is None else self._sum + d
                self._count += 1
            return torch.log(losses).sum(-1)
        if self.nadir is None:
            self.nadir = self._sum / self._count
        y = torch.log(losses / self.nadir.to(losses))
        return losses.shape[-1] * self.mu * torch.logsumexp(y / self.mu, -1)
