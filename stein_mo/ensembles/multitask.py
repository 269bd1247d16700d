r"""A multi-task network as M particles: a shared encoder :math:`\alpha_m` and one head :math:`\beta^k_m` per task.

Particle m is the whole network :math:`\theta_m = [\alpha_m, \beta^1_m, \dots, \beta^K_m]` (seed 000, Alg. 2);
"shared" means shared across tasks inside a particle. With ``shared=False`` every task gets its own M encoders
(K·M in all): a deep ensemble of single-task models, trained by the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .particles import ParticleEnsemble

__all__ = ["LOSSES", "MultiTaskEnsemble", "task_losses"]

LOSSES = ("ce", "mse")


class MultiTaskEnsemble(nn.Module):
    """``MultiTaskEnsemble(encoder, heads, M)``: ``encoder()`` and each ``heads[k]()`` build one member's part.

    ``losses[k]`` is ``"ce"`` (classification: the head gives logits) or ``"mse"`` (regression: one output).
    ``chunk_size`` is passed to the :class:`ParticleEnsemble` parts.

    >>> import torch
    >>> model = MultiTaskEnsemble(lambda: torch.nn.Linear(4, 8), [lambda: torch.nn.Linear(8, 3)] * 2, 5)
    >>> [tuple(o.shape) for o in model(torch.randn(10, 4))]  # K outputs of shape (M, batch, classes)
    [(5, 10, 3), (5, 10, 3)]
    """

    def __init__(
        self,
        encoder: Callable[[], nn.Module],
        heads: Sequence[Callable[[], nn.Module]],
        num_particles: int,
        losses: Sequence[str] | str = "ce",
        shared: bool = True,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        K = len(heads)
        if K < 1:
            raise ValueError("need at least one head (one per task)")
        losses = [losses] * K if isinstance(losses, str) else list(losses)
        if len(losses) != K or any(loss not in LOSSES for loss in losses):
            raise ValueError(f"losses must be {K} names from {LOSSES}, got {losses}")
        self.num_tasks, self.num_particles, self.shared, self.losses = K, num_particles, shared, losses
        self.encoder = ParticleEnsemble(encoder, num_particles if shared else K * num_particles, chunk_size)
        self.heads = nn.ModuleList(ParticleEnsemble(h, num_particles, chunk_size) for h in heads)

    def encode(self, x: Tensor) -> Tensor:
        """Features (M, B, …); (K, M, B, …) when the encoders are not shared."""
        z = self.encoder(x)
        return z if self.shared else z.unflatten(0, (self.num_tasks, self.num_particles))

    def decode(self, z: Tensor) -> list[Tensor]:
        """The K heads, each member on its own features: K tensors (M, B, …)."""
        return [head.each(z if self.shared else z[k]) for k, head in enumerate(self.heads)]

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.decode(self.encode(x))

    def head_parameters(self) -> list[Tensor]:
        return [p for head in self.heads for p in head.params]

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 1024) -> list[Tensor]:
        """Members' predictions per task: probabilities (M, N, C) for ``"ce"``, values (M, N) for ``"mse"``."""
        chunks = [self(xb) for xb in x.split(batch_size)]
        out = []
        for k, loss in enumerate(self.losses):
            o = torch.cat([c[k] for c in chunks], 1)
            out.append(o.softmax(-1) if loss == "ce" else o.reshape(o.shape[0], o.shape[1]))
        return out


def task_losses(outputs: Sequence[Tensor], y: Tensor, losses: Sequence[str]) -> Tensor:
    r"""Per-member, per-task mean losses (M, K): cross-entropy on logits or squared error on one output."""
    cols = []
    for k, (o, loss) in enumerate(zip(outputs, losses, strict=True)):
        M, B = o.shape[:2]
        target = y[:, k]
        if loss == "ce":
            cols.append(F.cross_entropy(o.reshape(M * B, -1), target.repeat(M), reduction="none").view(M, B).mean(1))
        else:
            cols.append((o.reshape(M, B) - target).pow(2).mean(1))
    return torch.stack(cols, 1)
