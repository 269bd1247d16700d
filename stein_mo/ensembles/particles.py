r"""M networks as one: parameters stacked along a leading particle dimension, run with ``torch.func.vmap`` over
``functional_call``, so that one forward and one backward serve all particles.

The members are independent initialisations of the same architecture (any ``nn.Module`` a user builds). A
parameter :math:`\theta^{(m)}` of member m is ``ensemble.params[name][m]``; :meth:`ParticleEnsemble.flat` gives
the (M, P) matrix of all of them, the particles of a Stein method on parameters.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state

__all__ = ["ParticleEnsemble"]


class ParticleEnsemble(nn.Module):
    """``ParticleEnsemble(make, M)``: ``make()`` builds one member (called M times, for independent inits).

    ``chunk_size`` is ``torch.vmap``'s: members are evaluated ``chunk_size`` at a time (default: all at once). On
    one CPU thread, convolutional members can run faster with ``chunk_size=1`` (the widened convolutions of a full
    vmap fall out of cache; see the benchmarks page); on a GPU keep the default.

    >>> import torch
    >>> ens = ParticleEnsemble(lambda: torch.nn.Linear(3, 2), 4)
    >>> ens(torch.randn(5, 3)).shape  # (M, batch, out)
    torch.Size([4, 5, 2])
    >>> ens.flat().shape  # (M, P): 3 * 2 weights + 2 biases per member
    torch.Size([4, 8])
    """

    def __init__(self, make: Callable[[], nn.Module], num_particles: int, chunk_size: int | None = None) -> None:
        super().__init__()
        if num_particles < 1:
            raise ValueError(f"need at least one particle, got {num_particles}")
        members = [make() for _ in range(num_particles)]
        if len({type(m) for m in members}) != 1:
            raise ValueError("make() must build the same architecture every time")
        params, buffers = stack_module_state(members)
        self.names = list(params)
        self.params = nn.ParameterList([nn.Parameter(params[n].detach().clone()) for n in self.names])
        self.buffer_names = list(buffers)
        for i, n in enumerate(self.buffer_names):
            self.register_buffer(f"_buffer_{i}", buffers[n].detach().clone())
        self._base = [copy.deepcopy(members[0]).to("meta")]  # a list: keep it out of the module tree
        self.num_particles = num_particles
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be None or >= 1, got {chunk_size}")
        self.chunk_size = chunk_size

    def _state(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        params = dict(zip(self.names, self.params, strict=True))
        buffers = {n: getattr(self, f"_buffer_{i}") for i, n in enumerate(self.buffer_names)}
        return params, buffers

    def forward(self, *inputs: Tensor) -> Tensor:
        """Every member on the same inputs: outputs with a leading particle dimension M."""
        return self._vmapped(inputs, None)

    def each(self, *inputs: Tensor) -> Tensor:
        """Member m on ``inputs[...][m]``: every input carries a leading particle dimension M."""
        for x in inputs:
            if x.shape[:1] != (self.num_particles,):
                raise ValueError(f"each() needs a leading dimension M={self.num_particles}, got {tuple(x.shape)}")
        return self._vmapped(inputs, 0)

    def _vmapped(self, inputs: tuple[Tensor, ...], in_dim: int | None) -> Tensor:
        params, buffers = self._state()
        base = self._base[0]

        def one(p, b, *xs):
            return functional_call(base, (p, b), xs)

        dims = (0, 0) + (in_dim,) * len(inputs)
        return torch.vmap(one, in_dims=dims, randomness="different", chunk_size=self.chunk_size)(
            params, buffers, *inputs
        )

    def per_particle(self, grads: list[Tensor]) -> Tensor:
        """Gradients shaped like :attr:`params` (optionally with leading batch dimensions) as (…, M, P) rows."""
        lead = grads[0].shape[: grads[0].ndim - self.params[0].ndim]
        M = self.num_particles
        return torch.cat([g.reshape(*lead, M, -1) for g in grads], -1)

    def unflatten(self, rows: Tensor) -> list[Tensor]:
        """Inverse of :meth:`per_particle`: (M, P) rows → tensors shaped like :attr:`params`."""
        sizes = [p[0].numel() for p in self.params]
        return [c.reshape(p.shape) for c, p in zip(rows.split(sizes, -1), self.params, strict=True)]

    def flat(self) -> Tensor:
        """All parameters as (M, P), differentiable (a concatenation of views of the stacked parameters)."""
        return torch.cat([p.reshape(self.num_particles, -1) for p in self.params], 1)

    def member(self, m: int) -> nn.Module:
        """A standalone copy of member ``m`` (an ordinary module)."""
        module = copy.deepcopy(self._base[0]).to_empty(device=self.params[0].device)
        params, buffers = self._state()
        state = {n: t[m].detach().clone() for n, t in {**params, **buffers}.items()}
        module.load_state_dict(state)
        return module
