r"""Training methods for a :class:`MultiTaskEnsemble`: each turns one minibatch into ``.grad`` (a descent direction)
on the stacked parameters, for all M members at once; the trainer's optimiser then steps.

Notation: :math:`L_k(m)` the mean loss of task k for member m, :math:`S_k` the (M, P) matrix of its gradients,
:math:`k_{ab}` a kernel between members and :math:`R_a = \sum_b \nabla_{x_b} k(x_b, x_a)` its repulsion.

=================  ===================================================================================================
``mt-sgd``         seed 000, Alg. 2. Heads, per task: SVGD, :math:`g^k = K^k S^k_{\beta} - \tau R^k`. Then the encoder,
                   given the updated heads: :math:`g = \sum_k w_k (K S^k_\alpha) - (\sum_k w_k) \tau R` with
                   :math:`w = \text{weighting}(Q)`, :math:`Q_{ij} = \sum_{ab} k_{ab} \langle S^i_\alpha(a),
                   S^j_\alpha(b)\rangle` (the reference code's Gramian; MGDA by default).
``moo-svgd``       Liu et al. (2021): member-wise MGDA directions :math:`d_a`, then :math:`g = K D - \tau R` on all
                   parameters with one kernel.
``ls``             linear scalarisation: encoder :math:`\sum_k L_k / K`, each head its own loss; members independent.
``mgda`` or any    members independent; encoder :math:`\sum_k w_k(m) S^k_\alpha(m)` with
Gramian weighting  :math:`w(m) = \text{weighting}(S_\alpha(m) S_\alpha(m)^\top)`, each head its own loss.
``pareto-mtl``     Lin et al. (2019): member m has preference :math:`u_m`; min-norm over its task gradients and
                   the active constraints :math:`(u_j - u_m)^\top \hat L > 0` (normalised losses and gradients),
                   after the paper's search for a feasible start (``init_steps``).
loss balancers     ``uw``, ``imtll``, ``gls``, ``dwa``, ``stch``: members independent, each minimising a balanced
                   combination :math:`b_m(L(m))` of its own task losses (seed 004, :mod:`~stein_mo.weighting`),
                   encoder and heads; the learned scales of UW and IMTL-L are per member.
``gradnorm``       members independent, each with its own GradNorm task weights (Chen et al., 2018).
``deep-ensemble``  single-task models (:class:`MultiTaskEnsemble` with ``shared=False``), each on its own loss.
=================  ===================================================================================================

The kernel is computed on function outputs (``kernel_on="outputs"``, as the reference code: flattened minibatch
features for the encoder, logits for each head; :math:`R` is pulled back to the parameters by the Jacobian of
member a's own outputs) or on the parameters (``"parameters"``, plain SVGD). The drift is :math:`\sum_a k_{am}
S(a)`, M times SVGD's :math:`\frac1M\sum_a`, so that with a vanishing bandwidth MT-SGD with one task is plain
gradient descent on every member, at the same learning rate as the baselines. Every task posterior is
:math:`p_k(\theta) \propto \exp(-N \bar L_k(\theta) / T)` (N training examples, flat prior, temperature T): its
score is :math:`-N\nabla \bar L_k / T`, and dividing the update by N/T gives the drift on mean-loss gradients and
:math:`\tau = T/N` on the repulsion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from scipy.stats import qmc
from torch import Tensor

from ..kernels import RBF, Kernel
from ..weighting.base import JacobianAggregator, Weighting
from ..weighting.gradnorm import GradNorm
from ..weighting.loss_balancing import DWA, GLS, IMTLL, STCH, UW
from ..weighting.mgda import MGDA
from ..weighting.registry import WEIGHTINGS, get_weighting
from .multitask import MultiTaskEnsemble, task_losses
from .particles import ParticleEnsemble

__all__ = [
    "BALANCERS",
    "METHODS",
    "GradNormEnsemble",
    "LossBalancedEnsemble",
    "MOOSVGDEnsemble",
    "MTSGDEnsemble",
    "ParetoMTL",
    "TrainingMethod",
    "WeightedEnsemble",
    "get_method",
    "preference_vectors",
]

KERNEL_ON = ("outputs", "parameters")
GRAMIANS = ("parameters", "features")


class TrainingMethod:
    """One update rule: :meth:`step` sets ``.grad`` of the model's parameters and returns the (M, K) losses."""

    name = "method"
    shared = True  # the model it trains has a shared encoder
    num_data: int | None = None  # training-set size N, set by fit(): the posterior is exp(-N mean loss)
    temperature = 1.0

    def _tau(self) -> float:
        if self.num_data is None:
            raise ValueError(f"{self.name}: set num_data (the training-set size; fit() does it) before step()")
        return self.temperature / self.num_data

    def step(self, model: MultiTaskEnsemble, x: Tensor, y: Tensor, optimizer: torch.optim.Optimizer) -> Tensor:
        raise NotImplementedError

    def setup(self, model: MultiTaskEnsemble) -> None:
        """Build what the method learns alongside the model (none by default); ``fit`` calls it before it builds
        the optimiser over ``[*model.parameters(), *method.parameters()]``."""

    def parameters(self) -> list[Tensor]:
        """The method's own learned parameters (UW's and IMTL-L's task scales); none by default."""
        return []

    def end_epoch(self, losses: Tensor) -> None:
        """Called by ``fit`` after each epoch with the members' mean training losses (M, K) (DWA uses them)."""

    def state_dict(self) -> dict:
        """What the method carries from step to step (a stateful weighting's running state), for checkpoints."""
        weighting = getattr(self, "weighting", None)
        return {"weighting": weighting.state_dict()} if weighting is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if "weighting" in state:
            self.weighting.load_state_dict(state["weighting"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by ``w`` (M,), one weight per member."""

    @staticmethod
    def forward(ctx, z: Tensor, w: Tensor) -> Tensor:
        ctx.save_for_backward(w)
        return z.view_as(z)

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor, None]:
        (w,) = ctx.saved_tensors
        return g * w.view(-1, *[1] * (g.ndim - 1)), None


def _set_grads(params: Sequence[Tensor], grads: Sequence[Tensor]) -> None:
    for p, g in zip(params, grads, strict=True):
        p.grad = g.detach()


def _per_task_jacobian(L: Tensor, enc: ParticleEnsemble) -> Tensor:
    """(K, M, P) per-member gradients of each task's loss w.r.t. the encoder, from one backward batched over tasks."""
    grads = torch.autograd.grad(L.sum(0), list(enc.params), _basis(L), is_grads_batched=True, retain_graph=True)
    return enc.per_particle(list(grads))


def _basis(L: Tensor) -> Tensor:
    """The K unit cotangents of the (K,) task losses."""
    return torch.eye(L.shape[-1], dtype=L.dtype, device=L.device)


def _encoder_vjp(z: Tensor, enc: ParticleEnsemble, cot: Tensor) -> Tensor:
    r""":math:`J_a^\top c_a` for a batch of cotangents ``cot`` (B, *z.shape): one backward through the encoder
    (a plain one for a single cotangent, which skips the batching machinery)."""
    if cot.shape[0] == 1:
        return enc.per_particle([g[None] for g in torch.autograd.grad(z, list(enc.params), cot[0], retain_graph=True)])
    return enc.per_particle(
        list(torch.autograd.grad(z, list(enc.params), cot, is_grads_batched=True, retain_graph=True))
    )


def _head_rows(model: MultiTaskEnsemble, grads: Sequence[Tensor]) -> list[Tensor]:
    """Split gradients of all head parameters into one (M, P_k) matrix per head."""
    out, i = [], 0
    for head in model.heads:
        n = len(head.params)
        out.append(head.per_particle(list(grads[i : i + n])))
        i += n
    return out


def _kernel_terms(kernel: Kernel, kernel_on: str, out: Tensor | Sequence[Tensor], ens: Sequence[ParticleEnsemble]):
    """Kernel matrix (M, M) and repulsion on the outputs (to pull back) or on the parameters of ``ens``."""
    if kernel_on == "outputs":
        outs = [out] if isinstance(out, Tensor) else list(out)
        M = outs[0].shape[0]
        rows = torch.cat([o.detach().reshape(M, -1) for o in outs], 1)
    else:
        rows = torch.cat([e.flat().detach() for e in ens], 1)
    return kernel.terms(rows)


def _pull_back(outs: Sequence[Tensor], repulsion: Tensor, params: Sequence[Tensor]) -> tuple[Tensor, ...]:
    r""":math:`J_a^\top R_a` for every member a: one backward with the repulsion as the outputs' cotangent."""
    sizes = [o[0].numel() for o in outs]
    cot = [c.reshape(o.shape) for c, o in zip(repulsion.split(sizes, 1), outs, strict=True)]
    return torch.autograd.grad(list(outs), list(params), cot, retain_graph=True)


def _check_kernel_on(kernel_on: str) -> str:
    if kernel_on not in KERNEL_ON:
        raise ValueError(f"kernel_on must be one of {KERNEL_ON}, got {kernel_on!r}")
    return kernel_on


def _check_temperature(T: float) -> float:
    if not (isinstance(T, (int, float)) and math.isfinite(T) and T >= 0):
        raise ValueError(f"temperature must be a finite number >= 0, got {T!r}")
    return float(T)


def _check_weighting(weighting: str | Weighting, jacobian: bool = False) -> Weighting | JacobianAggregator:
    """The weighting, which must take a batch of Gramians (one per member); ``jacobian=True`` also admits the
    aggregators that need each member's Jacobian (GradDrop, MoCo)."""
    w = get_weighting(weighting)
    if isinstance(w, JacobianAggregator) and not jacobian:
        raise TypeError(f"{w!r} needs the Jacobian itself; this method only has Gramians: use e.g. 'mgda', 'upgrad'")
    if isinstance(w, Weighting) and not w.batched:
        raise TypeError(f"{w!r} cannot weight all members at once; use a batched weighting such as 'mgda', 'upgrad'")
    return w


class WeightedEnsemble(TrainingMethod):
    """Independent members. ``weighting=None``: fixed task weights ``task_weights`` (K,) or (M, K), default 1/K,
    with one backward pass; otherwise weights :math:`w(S_\\alpha(m) S_\\alpha(m)^\\top)` per member, or, for a
    Jacobian aggregator (GradDrop, MoCo), its update of each member's per-task Jacobian, all members at once."""

    def __init__(self, weighting: str | Weighting | None = None, task_weights: Tensor | None = None) -> None:
        self.weighting = None if weighting is None else _check_weighting(weighting, jacobian=True)
        self.task_weights = task_weights
        self.name = "ls" if weighting is None else weighting.lower() if isinstance(weighting, str) else repr(weighting)
        self.fixed = weighting is None

    def step(self, model, x, y, optimizer):
        z = model.encode(x)
        M, K = model.num_particles, model.num_tasks
        if self.fixed:
            w = self.task_weights if self.task_weights is not None else torch.full((K,), 1.0 / K)
            w = w.to(z).expand(M, K)
            if not model.shared:  # each task's encoders only see that task's loss
                w = torch.ones_like(w)
            zs = [_ScaleGrad.apply(z if model.shared else z[k], w[:, k]) for k in range(K)]
            outs = [head.each(zk) for head, zk in zip(model.heads, zs, strict=True)]
            L = task_losses(outs, y, model.losses)
            L.sum().backward()
            return L.detach()
        L = task_losses(model.decode(z), y, model.losses)
        J = _per_task_jacobian(L, model.encoder)  # (K, M, P)
        if isinstance(self.weighting, JacobianAggregator):  # GradDrop, MoCo: each member's (K, P) Jacobian
            update = self.weighting(J.transpose(0, 1))
        else:
            w = self.member_weights(torch.einsum("kmp,lmp->mkl", J, J), L.detach())  # (M, K)
            update = torch.einsum("mk,kmp->mp", w, J)
        _set_grads(model.encoder.params, model.encoder.unflatten(update))
        _set_grads(model.head_parameters(), torch.autograd.grad(L.sum(), model.head_parameters()))
        return L.detach()

    def member_weights(self, G: Tensor, L: Tensor) -> Tensor:
        """Task weights (M, K) from the members' Gramians G (M, K, K) and losses L (M, K)."""
        return self.weighting.weights(G)


def preference_vectors(num_tasks: int, num_particles: int, kind: str = "circle") -> Tensor:
    """Member-wise preferences (M, K). ``"circle"``: Pareto MTL's unit rays in the positive orthant (K = 2: angles
    evenly over [0, π/2]; K > 2: the first M points of a Halton sequence mapped uniformly onto the simplex, then
    scaled to unit length, so that they spread over the orthant deterministically). ``"simplex"``: K = 2:
    (t, 1 − t), t evenly over [0, 1]; K > 2: uniform (the warm-up's weights).

    >>> preference_vectors(3, 4).norm(dim=1).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    M, K = num_particles, num_tasks
    if kind not in ("circle", "simplex"):
        raise ValueError(f"kind must be 'circle' or 'simplex', got {kind!r}")
    t = torch.linspace(0.0, 1.0, M, dtype=torch.float64) if M > 1 else torch.full((1,), 0.5, dtype=torch.float64)
    if K == 2:
        if kind == "circle":
            return torch.stack([torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)], 1)
        return torch.stack([t, 1 - t], 1)
    if kind == "simplex" or K == 1:
        return torch.full((M, K), 1.0 / K, dtype=torch.float64)
    u = torch.as_tensor(qmc.Halton(d=K - 1, scramble=False).random(M + 1)[1:])  # the first point is the origin
    edges = torch.cat([torch.zeros(M, 1, dtype=u.dtype), u.sort(1).values, torch.ones(M, 1, dtype=u.dtype)], 1)
    p = edges.diff(dim=1)  # spacings of sorted uniforms: uniform on the simplex
    return p / p.norm(dim=1, keepdim=True)


class ParetoMTL(WeightedEnsemble):
    r"""Pareto MTL (Lin et al., 2019). Member m solves
    :math:`\min \|\sum_k \lambda_k \hat g_k + \sum_{j \in I_m} \beta_j \nabla \hat G_j\|^2` over the simplex,
    :math:`\hat G_j = (u_j - u_m)^\top \hat L`, active set :math:`I_m = \{j : \hat G_j > 0\}`, with unit task
    gradients :math:`\hat g_k` and unit-norm losses :math:`\hat L`. The direction :math:`\sum_k c_k \hat g_k`,
    :math:`c = \lambda + \sum_j \beta_j (u_j - u_m)`, is applied as weights :math:`c_k / \|g_k\|` on the raw
    gradients, scaled to unit :math:`\ell_1` norm. Batched over members: an inactive constraint's vector is
    replaced by :math:`\hat g_1`, which leaves the convex hull, and so the problem, unchanged.

    First, the paper's search for a feasible start: while member m has active constraints, and for at most
    ``init_steps`` steps, it descends the active constraints only, with weights :math:`c = \sum_{j \in I_m}
    \beta_j (u_j - u_m)` on the raw gradients, :math:`\beta` the min-norm point of the
    :math:`(u_j - u_m)^\top J` (the reference code's ``get_d_paretomtl_init``). A member leaves the search for good
    at its first step without active constraints. ``init_steps=0`` skips the search.
    """

    def __init__(self, preferences: Tensor | None = None, init_steps: int = 100) -> None:
        if init_steps < 0:
            raise ValueError(f"init_steps must be >= 0, got {init_steps}")
        self.name, self.fixed, self.preferences, self.init_steps = "pareto-mtl", False, preferences, init_steps
        self.weighting = None  # its own QP (member_weights), not a library weighting
        self.searching, self.steps = None, 0  # (M,) members still looking for a feasible start; steps taken

    def member_weights(self, G: Tensor, L: Tensor) -> Tensor:
        M, K = L.shape
        u = (self.preferences if self.preferences is not None else preference_vectors(K, M)).to(L)
        if u.shape != (M, K):
            raise ValueError(f"preferences must be (M, K) = {(M, K)}, got {tuple(u.shape)}")
        u = u / u.norm(dim=1, keepdim=True)
        norms = G.diagonal(dim1=1, dim2=2).clamp_min(torch.finfo(G.dtype).tiny).sqrt()
        Gn = G / (norms[:, :, None] * norms[:, None, :])  # Gramian of the unit gradients
        Lhat = L / L.norm(dim=1, keepdim=True).clamp_min(torch.finfo(L.dtype).tiny)
        D = u[None, :, :] - u[:, None, :]  # (m, j, K): u_j - u_m
        active = (D @ Lhat[:, :, None])[..., 0] > 0  # (M, M); the diagonal (j = m) is 0, never active
        first = torch.nn.functional.one_hot(torch.zeros((), dtype=torch.long, device=L.device), K).to(L)
        C = torch.cat([torch.eye(K, dtype=L.dtype, device=L.device).expand(M, K, K),
                       torch.where(active[:, :, None], D, first)], 1)  # fmt: skip
        lam = MGDA().weights(C @ Gn @ C.transpose(1, 2))  # (M, K + M)
        coeff = torch.where(active[:, :, None], D, 0.0)
        w = lam[:, :K] + lam[:, K:, None].mul(coeff).sum(1) + lam[:, K:].mul(~active).sum(1, keepdim=True) * first
        w = w / norms  # the QP weighted unit gradients: same direction on the raw ones
        w = w / w.abs().sum(1, keepdim=True)
        searching = self._searching(active)
        if not searching.any():
            return w
        # feasibility search: min-norm over the active constraints' gradients; inactive rows copy an active one
        some = D[torch.arange(M, device=L.device), active.to(torch.uint8).argmax(1)]  # (M, K), an active j's row
        A = torch.where(active[:, :, None], D, some[:, None, :])
        beta = MGDA().weights(A @ G @ A.transpose(1, 2))  # (M, M)
        return torch.where(searching[:, None], (beta[:, :, None] * A).sum(1), w)

    def _searching(self, active: Tensor) -> Tensor:
        """Which members still search for a feasible start (and count this step)."""
        if self.searching is None:
            self.searching = torch.full(active.shape[:1], self.init_steps > 0, dtype=torch.bool)
        self.searching &= active.any(1).cpu() & (self.steps < self.init_steps)
        self.steps += 1
        return self.searching.to(active.device)

    def state_dict(self) -> dict:
        return {"searching": self.searching, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.searching, self.steps = state["searching"], state["steps"]


class MTSGDEnsemble(TrainingMethod):
    r"""MT-SGD for networks (seed 000, Alg. 2); see the module docstring for the update.

    ``gramian="parameters"`` forms :math:`Q` from the per-task gradients with respect to the encoder, as the
    reference code: one backward through the encoder batched over K + 1 cotangents (the K tasks' and the
    repulsion's). ``"features"`` forms it from the gradients with respect to the shared features z,
    :math:`Q_{ij} = \sum_{ab} k_{ab} \langle \partial_{z_a} L_i, \partial_{z_b} L_j\rangle` (the MGDA-UB idea
    of seed 002: only the heads are differentiated per task), and then back-propagates two cotangents through the
    encoder: :math:`\sum_k w_k \partial_z L_k` and the repulsion.
    """

    name = "mt-sgd"

    def __init__(
        self,
        kernel: Kernel | None = None,
        temperature: float = 1.0,
        weighting: str | Weighting = "mgda",
        kernel_on: str = "outputs",
        gramian: str = "parameters",
    ) -> None:
        self.kernel = kernel or RBF()
        self.temperature = _check_temperature(temperature)
        self.weighting = _check_weighting(weighting)
        self.kernel_on = _check_kernel_on(kernel_on)
        if gramian not in GRAMIANS:
            raise ValueError(f"gramian must be one of {GRAMIANS}, got {gramian!r}")
        self.gramian = gramian

    def step(self, model, x, y, optimizer):
        if not model.shared:
            raise ValueError("MT-SGD needs a shared encoder (MultiTaskEnsemble(shared=True))")
        tau, enc, heads = self._tau(), model.encoder, model.heads
        pull = self.kernel_on == "outputs"
        z = model.encode(x)
        # 1. heads: SVGD on each task's head, encoder fixed (eq. 9)
        outs = model.decode(z.detach())
        L = task_losses(outs, y, model.losses)
        head_params = model.head_parameters()
        S = _head_rows(model, torch.autograd.grad(L.sum(), head_params, retain_graph=True))
        terms = [_kernel_terms(self.kernel, self.kernel_on, o, [h]) for o, h in zip(outs, heads, strict=True)]
        if pull:
            R = _head_rows(model, _pull_back(outs, torch.cat([t.repulsion for t in terms], 1), head_params))
        else:
            R = [t.repulsion for t in terms]
        grads = []
        for head, t, s, r in zip(heads, terms, S, R, strict=True):
            grads += head.unflatten(t.matrix @ s - tau * r)
        _set_grads(head_params, grads)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        # 2. encoder: MT-SGD over the K task posteriors, given the updated heads (eq. 7)
        t = _kernel_terms(self.kernel, self.kernel_on, z, [enc])
        K = model.num_tasks
        # per-task gradients w.r.t. the features z: head k sees its own leaf on z's storage, so one plain backward
        # through the heads gives every task's (the encoder is reached later, with these as cotangents)
        zk = [z.detach().requires_grad_(True) for _ in range(K)]
        outs = [head.each(zk[k]) for k, head in enumerate(heads)]
        C = torch.stack(torch.autograd.grad(task_losses(outs, y, model.losses).sum(), zk))
        if self.gramian == "parameters":  # then one backward through the encoder for the K tasks and R together
            G = _encoder_vjp(z, enc, torch.cat([C, t.repulsion.view_as(z)[None]]) if pull else C)
            A, r = (G[:K], G[K]) if pull else (G, t.repulsion)  # A = J: (K, M, P)
        else:  # the same Gramian on the gradients w.r.t. the features
            A = C.flatten(2)
        KA = t.matrix @ A
        w = self.weighting.weights(A.flatten(1) @ KA.flatten(1).T)  # Q_ij = sum_ab k_ab <A_i(a), A_j(b)>
        if self.gramian == "parameters":
            drift = torch.einsum("k,kap->ap", w, KA)
        else:  # back-propagate the weighted feature gradients (and the repulsion), then smooth across members
            v = torch.einsum("k,kap->ap", w, A).view_as(z)
            both = _encoder_vjp(z, enc, torch.stack([v, t.repulsion.view_as(z)]) if pull else v[None])
            drift, r = t.matrix @ both[0], both[1] if pull else t.repulsion
        _set_grads(enc.params, enc.unflatten(drift - w.sum() * tau * r))
        return L.detach()


BALANCERS = {"uw": UW, "imtll": IMTLL, "gls": GLS, "dwa": DWA, "stch": STCH}


class LossBalancedEnsemble(TrainingMethod):
    r"""Independent members; member m minimises :math:`b(L(m))`, the balancer ``name`` (one of ``BALANCERS``)
    applied to its own (K,) task losses, with its own state: learned scales (M, K) for UW and IMTL-L, loss
    history for DWA, nadir vector for STCH. One backward of :math:`\sum_m b(L(m))` sets every gradient, encoder and
    heads. ``options`` go to the balancer (``DWA(T=...)``, ``STCH(mu=..., warmup=...)``).

    With UW or IMTL-L, call :meth:`setup` and give :meth:`parameters` to the optimiser (``fit`` does both).
    """

    def __init__(self, name: str, **options) -> None:
        key = name.lower()
        if key not in BALANCERS:
            raise ValueError(f"unknown loss balancer {name!r}; choose one of {sorted(BALANCERS)}")
        self.name, self.options, self.balancer = key, options, None
        self.learned = issubclass(BALANCERS[key], torch.nn.Module)  # UW, IMTL-L: built by setup(), knowing M and K
        if not self.learned:
            self.balancer = BALANCERS[key](**options)

    def setup(self, model: MultiTaskEnsemble) -> None:
        if not self.learned:
            return
        shape = (model.num_particles, model.num_tasks)
        if self.balancer is None:
            device, dtype = model.encoder.params[0].device, model.encoder.params[0].dtype
            self.balancer = BALANCERS[self.name](model.num_tasks, shape[:1], **self.options).to(device, dtype)
        elif next(self.balancer.parameters()).shape != shape:
            raise ValueError(f"{self.name} was set up for (M, K) = {tuple(next(self.balancer.parameters()).shape)}, "
                             f"this model has {shape}")  # fmt: skip

    def parameters(self) -> list[Tensor]:
        return list(self.balancer.parameters()) if self.learned and self.balancer is not None else []

    def step(self, model, x, y, optimizer):
        self.setup(model)
        _check_optimised(self, optimizer)
        L = task_losses(model(x), y, model.losses)  # (M, K)
        self.balancer(L).sum().backward()
        return L.detach()

    def end_epoch(self, losses: Tensor) -> None:
        if isinstance(self.balancer, DWA):
            self.balancer.update(losses)

    def state_dict(self) -> dict:
        stateful = hasattr(self.balancer, "state_dict")  # GLS has no state
        return {"balancer": self.balancer.state_dict()} if stateful else {}

    def load_state_dict(self, state: dict) -> None:
        if "balancer" in state:
            self.balancer.load_state_dict(state["balancer"])


def _check_optimised(method: TrainingMethod, optimizer: torch.optim.Optimizer | None) -> None:
    """Raise unless the method's own parameters are in the optimiser (else they would silently stay fixed)."""
    if method.parameters() and optimizer is not None:
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if any(id(p) not in held for p in method.parameters()):
            raise ValueError(
                f"{method.name} learns per-member task weights: call method.setup(model) and build the optimiser "
                "over [*model.parameters(), *method.parameters()] (fit does it)"
            )


class GradNormEnsemble(TrainingMethod):
    r"""GradNorm (Chen et al., 2018) per member: member m minimises :math:`\sum_k w_{mk} L_k(m)`, its weights
    (M, K) learned so that the weighted gradient norms on the member's last shared layer (the encoder's last weight
    matrix) follow the tasks' relative training rates (:class:`~stein_mo.weighting.GradNorm`, batched). The weights
    are renormalised to sum to K per member before each use, which is the original's renormalisation after each
    optimiser step. As with UW, :meth:`setup` and :meth:`parameters` (``fit`` does both).
    """

    name = "gradnorm"

    def __init__(self, alpha: float = 1.5) -> None:
        self.alpha, self.balancer = alpha, None

    def setup(self, model: MultiTaskEnsemble) -> None:
        if self.balancer is None:
            p = model.encoder.params[0]
            self.balancer = GradNorm(model.num_tasks, self.alpha, (model.num_particles,)).to(p.device, p.dtype)
        elif self.balancer.weights.shape != (model.num_particles, model.num_tasks):
            raise ValueError(f"gradnorm was set up for (M, K) = {tuple(self.balancer.weights.shape)}")

    def parameters(self) -> list[Tensor]:
        return [] if self.balancer is None else [self.balancer.weights]

    def step(self, model, x, y, optimizer):
        self.setup(model)
        _check_optimised(self, optimizer)
        enc = model.encoder
        last = [p for p in enc.params if p.ndim >= 3]  # per member: a weight matrix or a convolution's kernel
        if not last:
            raise ValueError("gradnorm needs a weight matrix in the encoder (its last shared layer)")
        self.balancer.renormalize()
        L = task_losses(model(x), y, model.losses)  # (M, K)
        (G,) = torch.autograd.grad(L.sum(0), last[-1], _basis(L), is_grads_batched=True, retain_graph=True)
        w = self.balancer.from_norms(L, G.flatten(2).norm(dim=-1).T)  # norms (M, K)
        (w * L).sum().backward()
        return L.detach()

    def state_dict(self) -> dict:
        return {} if self.balancer is None else {"balancer": self.balancer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "balancer" in state:
            self.balancer.load_state_dict(state["balancer"])


class MOOSVGDEnsemble(TrainingMethod):
    """MOO-SVGD (Liu et al., 2021) on networks: member-wise MGDA directions smoothed by one kernel over members."""

    name = "moo-svgd"

    def __init__(self, kernel: Kernel | None = None, temperature: float = 1.0, kernel_on: str = "outputs") -> None:
        self.kernel = kernel or RBF()
        self.temperature = _check_temperature(temperature)
        self.kernel_on = _check_kernel_on(kernel_on)

    def step(self, model, x, y, optimizer):
        tau, enc, heads = self._tau(), model.encoder, model.heads
        z = model.encode(x)
        outs = model.decode(z)
        L = task_losses(outs, y, model.losses)
        J = _per_task_jacobian(L, enc)
        w = MGDA().weights(torch.einsum("kmp,lmp->mkl", J, J))
        head_params = model.head_parameters()
        own = _head_rows(model, torch.autograd.grad(L.sum(), head_params, retain_graph=True))
        D = [torch.einsum("mk,kmp->mp", w, J), *own]
        t = _kernel_terms(self.kernel, self.kernel_on, outs, [enc, *heads])
        if self.kernel_on == "outputs":
            pulled = _pull_back(outs, t.repulsion, [*enc.params, *head_params])
            R = [enc.per_particle(list(pulled[: len(enc.params)]))]
            R += _head_rows(model, pulled[len(enc.params) :])
        else:
            R = list(t.repulsion.split([e.flat().shape[1] for e in [enc, *heads]], 1))
        grads = []
        for e, d, r in zip([enc, *heads], D, R, strict=True):
            grads += e.unflatten(t.matrix @ d - tau * r)
        _set_grads([*enc.params, *head_params], grads)
        return L.detach()


METHODS = ("mt-sgd", "moo-svgd", "ls", "mgda", "pareto-mtl", "deep-ensemble")


def get_method(name: str | TrainingMethod, **options) -> TrainingMethod:
    """A method by name: one of ``METHODS``, any weighting's name (``"upgrad"``, ``"nash"``, ``"moco"``, …) or a loss
    balancer's (``"uw"``, ``"dwa"``, …)."""
    if isinstance(name, TrainingMethod):
        return name
    key = name.lower()
    if key == "mt-sgd":
        return MTSGDEnsemble(**options)
    if key == "moo-svgd":
        return MOOSVGDEnsemble(**options)
    if key == "ls":
        return WeightedEnsemble(None, **options)
    if key == "pareto-mtl":
        return ParetoMTL(**options)
    if key == "deep-ensemble":
        method = WeightedEnsemble(None, **options)
        method.name, method.shared = "deep-ensemble", False
        return method
    if key in WEIGHTINGS:
        return WeightedEnsemble(key, **options)
    if key in BALANCERS:
        return LossBalancedEnsemble(key, **options)
    if key == "gradnorm":
        return GradNormEnsemble(**options)
    raise ValueError(
        f"unknown method {name!r}; choose one of {METHODS}, a weighting from {sorted(WEIGHTINGS)}, a loss balancer "
        f"from {sorted(BALANCERS)} or 'gradnorm'"
    )
