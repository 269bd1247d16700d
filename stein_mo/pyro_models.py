r"""Pyro models as targets: every latent site, unconstrained and flattened into one row per particle.

:func:`from_pyro` traces the model from its prior to find its latent sites. A particle is the concatenation of
each site's unconstrained value :math:`u_s = T_s^{-1}(x_s)`, :math:`T_s =` ``biject_to(support)``, so that the target is

.. math:: \log p(u) = \log p_{\text{model}}\big(T(u)\big) + \sum_s \log\big|\det \partial T_s(u_s)/\partial u_s\big| ,

the joint log density of latents and observations (``pyro.factor`` terms included) plus the log-Jacobians. All
M particles are evaluated in one model execution, under an outer ``pyro.plate`` of size M to the left of the
model's own plates. At construction the vectorised log density is compared with one-particle evaluations; a model
that does not vectorise (e.g. it reduces over a latent's leading dimension) is refused with the site named,
never evaluated with wrong shapes. A site whose support depends on other latents (``Uniform(0, tau)``) is mapped
inside each model run, by the bijection of the support that run gives it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyro
import pyro.poutine as poutine
import torch
from pyro.distributions.util import scale_and_mask
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample
from torch import Tensor
from torch.distributions import biject_to
from torch.distributions.transforms import ComposeTransform

__all__ = ["PyroTarget", "from_pyro"]

PARTICLES = "_stein_mo_particles"


@dataclass(frozen=True)
class Site:
    """One latent site: its constrained shape, unconstrained shape, support (with its bijection, found once) and
    place in a particle's row."""

    name: str
    shape: tuple[int, ...]
    unconstrained_shape: tuple[int, ...]
    batch_shape: tuple[int, ...]
    support: Any
    offset: int
    transform: Any = field(compare=False)
    dependent: bool = field(default=False, compare=False)
    """Whether the support depends on other latents (``Uniform(0, tau)``): the bijection is then built at the site,
    in every model run, from that run's support."""
    unconstrained: bool = field(init=False, compare=False)
    """Whether the bijection is the identity: the site has no log-Jacobian term."""

    def __post_init__(self) -> None:
        T = getattr(self.transform, "base_transform", self.transform)
        object.__setattr__(
            self, "unconstrained", isinstance(T, ComposeTransform) and not T.parts and not self.dependent
        )

    @property
    def size(self) -> int:
        return math.prod(self.unconstrained_shape)

    def layout(self) -> tuple:
        support = f"{type(self.support).__name__} (depends on other latents)" if self.dependent else repr(self.support)
        return (self.name, self.shape, self.unconstrained_shape, support)


class _Conditioned(Messenger):
    """``poutine.condition`` and the part of ``poutine.trace`` a log joint needs, in one handler: sites named in
    ``data`` take those values, and every sample site's final message (after the plates' broadcasting and any
    ``poutine.scale``/``mask``) is kept in ``sites``, without building a trace.

    Values of the sites named in ``at_site`` are unconstrained: they are mapped by ``biject_to`` of the support the
    site has in this run (a support that depends on other latents), and the log-Jacobians kept in ``log_jacobians``.
    """

    def __init__(self, data: dict[str, Tensor], at_site: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.data, self.at_site, self.sites, self.log_jacobians = data, at_site, [], []

    def _pyro_sample(self, msg) -> None:
        value = self.data.get(msg["name"])
        if value is None:
            return
        if msg["name"] in self.at_site:
            T = _bijection(msg["fn"].support)
            value, u = T(value), value
            self.log_jacobians.append(T.log_abs_det_jacobian(u, value))
        msg["value"], msg["is_observed"] = value, True

    def _pyro_post_sample(self, msg) -> None:
        self.sites.append(msg)


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Inside, the global CPU RNG (and those of CUDA devices already in use) start from ``seed`` and are restored on
    exit; ``None`` leaves them alone, to advance."""
    if seed is None:
        yield
        return
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for d in cuda:
            torch.cuda.default_generators[d].manual_seed(seed)
        yield


def _depends_on_latents(T, u: Tensor, other_site: dict | None) -> bool:
    """Whether a site's bijection ``T`` (from one prior draw) differs from the one of another draw ``other_site``:
    its support then depends on other latents. Compared as functions, at the unconstrained point ``u``."""
    if other_site is None:  # absent from the other run: control flow, refused later by the vectorisation check
        return False
    T2 = _bijection(other_site["fn"].support)
    x, x2 = T(u), T2(u)
    return x.shape != x2.shape or not torch.allclose(x, x2, rtol=1e-6, atol=1e-12)


def _bijection(support):
    """``biject_to(support)``, seeing through the wrappers that torch registers no transform for (a mixture's
    support is its components' support)."""
    try:
        return biject_to(support)
    except NotImplementedError:
        base = getattr(support, "base_constraint", None)
        if base is None:
            raise
        return _bijection(base)


def from_pyro(model: Callable, *args: Any, **kwargs: Any) -> PyroTarget:
    """A target for every sampler from a Pyro model and its arguments.

    >>> import torch, pyro, pyro.distributions as dist, stein_mo
    >>> def model(y):
    ...     mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
    ...     sigma = pyro.sample("sigma", dist.HalfNormal(5.0))
    ...     with pyro.plate("data", len(y)):
    ...         pyro.sample("y", dist.Normal(mu, sigma), obs=y)
    >>> target = stein_mo.from_pyro(model, torch.randn(20) + 3.0)
    >>> target.dim, [s.name for s in target.sites]
    (2, ['mu', 'sigma'])
    >>> target(target.init_particles(5)).shape
    torch.Size([5])
    """
    return PyroTarget(model, *args, **kwargs)


class PyroTarget:
    """Log density of a Pyro model's latent sites on unconstrained rows (see the module docstring).

    Pyro's validation (supports of observed values, parameter constraints) runs on the evaluations made at
    construction, when it is enabled as it is by default; later evaluations skip it, since the observed data do
    not change and the latents come from bijections onto their supports. A non-finite log density or score still
    stops a sampler with an error. Set ``target.validate = True`` to validate at every evaluation.
    """

    def __init__(self, model: Callable, *args: Any, **kwargs: Any) -> None:
        self.model, self.args, self.kwargs = model, args, kwargs
        self.__name__ = getattr(model, "__name__", type(model).__name__)
        trace, other = (self._prior_trace(seed) for seed in (1, 2))  # two draws: which supports move with them
        sites, offset, nesting = [], 0, 0
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site):
                continue
            fn = site["fn"]
            nesting = max([nesting, len(fn.batch_shape)] + [-f.dim for f in site["cond_indep_stack"] if f.vectorized])
            if site["is_observed"]:
                continue
            if fn.support.is_discrete:
                raise ValueError(
                    f"latent site {name!r} is discrete ({type(fn).__name__}); Stein samplers need continuous "
                    "latents: marginalise it out (e.g. with a mixture distribution) or condition on it"
                )
            if any(f.full_size is not None and f.size != f.full_size for f in site["cond_indep_stack"]):
                raise ValueError(f"latent site {name!r} is inside a subsampled plate; subsampling is not supported")
            value = site["value"]
            T = _bijection(fn.support)
            u = T.inv(value)
            dependent = _depends_on_latents(T, u, other.nodes.get(name))
            site = Site(
                name, tuple(value.shape), tuple(u.shape), tuple(fn.batch_shape), fn.support, offset, T, dependent
            )
            sites.append(site)
            offset += site.size
        if not sites:
            raise ValueError(f"model {self.__name__!r} has no latent sample sites")
        self.sites, self.dim, self._nesting, self._plates = sites, offset, nesting, {}
        self._at_site = frozenset(s.name for s in sites if s.dependent)
        self.validate = pyro.infer.util.is_validation_enabled()
        self._check_vectorisation()  # with Pyro's validation as the user has it: observed data and parameters checked
        self.validate = False

    def _prior_trace(self, seed: int):
        """One unbatched run of the model from its prior, seeded, without touching the global RNGs."""
        with _seeded(seed), torch.no_grad(), poutine.block(hide_fn=lambda msg: False):
            return poutine.trace(self.model).get_trace(*self.args, **self.kwargs)

    def _plate(self, M: int) -> pyro.plate:
        """The particle plate of size M, built once per size (building one runs a subsample site each time)."""
        if M not in self._plates:
            self._plates[M] = pyro.plate(PARTICLES, M, dim=-self._nesting - 1)
        return self._plates[M]

    # ---------------------------------------------------------------------------------------------- layout
    def layout(self) -> tuple:
        """Names, shapes and supports of the latent sites; MT-SGD needs the same layout for every target."""
        return tuple(s.layout() for s in self.sites)

    def _split(self, X: Tensor) -> dict[str, Tensor]:
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"{self.__name__} expects particles of shape (M, {self.dim}), got {tuple(X.shape)}")
        M = X.shape[0]
        if len(self.sites) == 1 and len(self.sites[0].unconstrained_shape) == 1:  # the row is the site: no view
            return {self.sites[0].name: X}
        return {s.name: X[:, s.offset : s.offset + s.size].reshape(M, *s.unconstrained_shape) for s in self.sites}

    def _data_shape(self, s: Site, M: int, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Where a site's (M, *shape) values go in a model run: the particle dimension left of the model's plates."""
        return (M, *[1] * (self._nesting - len(s.batch_shape)), *shape)

    def constrain(self, X: Tensor) -> dict[str, Tensor]:
        """``{site: (M, *site_shape)}`` in the model's constrained space."""
        parts = self._split(X)
        if not self._at_site:
            return {s.name: s.transform(u) for s, u in zip(self.sites, parts.values(), strict=True)}
        M = X.shape[0]
        values = {msg["name"]: msg["value"] for msg in self._run(self._model_data(parts, M), M, self._at_site).sites}
        return {s.name: values[s.name].reshape(M, *s.shape) for s in self.sites}

    def unconstrain(self, values: dict[str, Tensor]) -> Tensor:
        """Rows (M, dim) from constrained values ``{site: (M, *site_shape)}``."""
        M = next(iter(values.values())).shape[0]
        data = {s.name: values[s.name].reshape(self._data_shape(s, M, s.shape)) for s in self.sites}
        T = {s.name: s.transform for s in self.sites}
        if self._at_site:  # the bijections of supports that depend on other latents, from a run at these values
            T.update(
                {
                    msg["name"]: _bijection(msg["fn"].support)
                    for msg in self._run(data, M).sites
                    if msg["name"] in self._at_site
                }
            )
        return torch.cat([T[s.name].inv(data[s.name]).reshape(M, -1) for s in self.sites], 1)

    def init_particles(self, M: int, generator: torch.Generator | None = None) -> Tensor:
        """M rows drawn from the prior (one vectorised model run), mapped to unconstrained space.

        With a ``generator`` the draws depend on it alone (the global RNGs are left as they were); without one they
        come from the global RNGs, which advance."""
        seed = None if generator is None else int(torch.randint(2**62, (1,), generator=generator))
        with _seeded(seed), torch.no_grad(), self._plate(M):
            trace = poutine.trace(self.model).get_trace(*self.args, **self.kwargs)
        return self.unconstrain({s.name: trace.nodes[s.name]["value"].reshape(M, *s.shape) for s in self.sites})

    # -------------------------------------------------------------------------------------------- density
    def __call__(self, X: Tensor) -> Tensor:
        """(M,) log densities of the rows of ``X`` (M, dim), in one vectorised model execution."""
        M, terms = X.shape[0], []
        data = self._model_data(self._split(X), M, terms)
        terms = self._log_joint(data, M) + terms
        return sum(terms[1:], terms[0])

    def _model_data(self, parts: dict[str, Tensor], M: int, log_jacobians: list | None = None) -> dict[str, Tensor]:
        """The values a model run is conditioned on: constrained, or unconstrained for the sites mapped at the site;
        appends the (M,) log-Jacobians of the others to ``log_jacobians``."""
        data = {}
        for s, u in zip(self.sites, parts.values(), strict=True):
            if s.dependent:  # mapped at its site, by the support of this run
                data[s.name] = u.reshape(self._data_shape(s, M, s.unconstrained_shape))
                continue
            if s.unconstrained:  # the identity: no operation spent on it or on a log-Jacobian of zeros
                x = u
            else:
                x = s.transform(u)
                if log_jacobians is not None:
                    log_jacobians.append(s.transform.log_abs_det_jacobian(u, x).reshape(M, -1).sum(1))
            shape = self._data_shape(s, M, s.shape)
            data[s.name] = x if x.shape == shape else x.reshape(shape)
        return data

    def _run(self, data: dict[str, Tensor], M: int, at_site: frozenset[str] = frozenset()) -> _Conditioned:
        """One run of the model on M particles, conditioned on ``data``; returns the handler with its sites."""
        with pyro.validation_enabled(self.validate), self._plate(M), _Conditioned(data, at_site) as run:
            self.model(*self.args, **self.kwargs)
        return run

    def _log_joint(self, data: dict[str, Tensor], M: int) -> list[Tensor]:
        """Every sample site's (M,) log density, scaled and masked, from one conditioned run of the model, and the
        log-Jacobians of the sites mapped there."""
        run = self._run(data, M, self._at_site)
        terms = [j.reshape(M, -1).sum(1) for j in run.log_jacobians]
        for site in run.sites:
            if site_is_subsample(site):
                continue
            lp = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
            if lp.ndim < self._nesting + 1 or lp.shape[-self._nesting - 1] != M:
                raise ValueError(
                    f"site {site['name']!r}: log_prob of shape {tuple(lp.shape)} has no particle dimension of size "
                    f"{M} at dim {-self._nesting - 1}; the model does not vectorise over particles"
                )
            lp = scale_and_mask(lp, site["scale"], site["mask"])
            if lp.shape != (M,):  # sum the dimensions left and right of the particle dimension
                lp = lp.reshape(*lp.shape[: lp.ndim - self._nesting - 1], M, -1).sum(-1).reshape(-1, M).sum(0)
            terms.append(lp)
        return terms

    def _check_vectorisation(self) -> None:
        """Refuse models whose vectorised log density differs from one-particle evaluations."""
        try:
            X = self.init_particles(3, torch.Generator().manual_seed(0))  # in the model's own dtype
            with torch.no_grad():
                together = self(X)
        except Exception as e:  # the model broke under the particle plate
            raise ValueError(
                f"model {self.__name__!r} could not be evaluated for several particles at once: {e}"
            ) from e
        with torch.no_grad():
            alone = torch.cat([self(X[i : i + 1]) for i in range(len(X))])
        rtol = 1e-5 if together.dtype == torch.float64 else 1e-4  # summation order differs between the two
        if not torch.allclose(together, alone, rtol=rtol, atol=rtol):
            raise ValueError(
                f"model {self.__name__!r} does not vectorise over particles: its log density for 3 particles at once "
                f"{together.tolist()} differs from one at a time {alone.tolist()}. Write latent reductions over "
                "the rightmost dimensions (x.sum(-1), not x.sum()) and declare plates with explicit dims."
            )

    def predictive(self, X: Tensor, *args: Any, **kwargs: Any) -> dict[str, Tensor]:
        """Posterior predictive draws, one per particle: ``pyro.infer.Predictive`` on the constrained particles.

        ``args``/``kwargs`` default to the model's own (pass new inputs for predictions elsewhere).
        """
        samples = {k: v.detach() for k, v in self.constrain(X.detach()).items()}
        predictive = pyro.infer.Predictive(self.model, posterior_samples=samples)
        return predictive(*(args or self.args), **(kwargs or self.kwargs))

    def __repr__(self) -> str:
        return f"PyroTarget({self.__name__}, sites={[s.name for s in self.sites]}, dim={self.dim})"


def check_same_layout(targets: list) -> None:
    """Raise unless all Pyro targets share their latent sites (names, shapes, supports), listing differences."""
    pyro_targets = [t for t in targets if isinstance(t, PyroTarget)]
    if len(pyro_targets) < 2:
        return
    first = pyro_targets[0].layout()
    for k, t in enumerate(pyro_targets[1:], 1):
        if t.layout() != first:
            a, b = dict((x[0], x[1:]) for x in first), dict((x[0], x[1:]) for x in t.layout())
            diffs = [f"{n}: {a.get(n)} vs {b.get(n)}" for n in sorted(set(a) | set(b)) if a.get(n) != b.get(n)]
            raise ValueError(f"Pyro target {k} has different latent sites from target 0: " + "; ".join(diffs))
