"""stein_mo: particle inference and optimisation over several targets at once (SVGD, MT-SGD, MOO-SVGD)."""

from . import data, ensembles, metrics, problems, weighting
from .diagnostics import to_inference_data
from .kernels import IMQ, RBF, Kernel, KernelTerms, median_heuristic
from .pyro_models import PyroTarget, from_pyro
from .qp import dual_cone_weights, min_norm_weights
from .samplers import MOOSVGD, MTSGD, SVGD, RunResult, Sampler, SamplerState
from .stein import ksd, normalized_gramian, num_batched, scores, stein_directions, stein_gramian
from .weighting import aggregate, get_weighting

__version__ = "0.1.0"

__all__ = [
    "IMQ",
    "MOOSVGD",
    "MTSGD",
    "RBF",
    "SVGD",
    "Kernel",
    "KernelTerms",
    "PyroTarget",
    "RunResult",
    "Sampler",
    "SamplerState",
    "aggregate",
    "data",
    "dual_cone_weights",
    "ensembles",
    "from_pyro",
    "get_weighting",
    "ksd",
    "median_heuristic",
    "metrics",
    "min_norm_weights",
    "normalized_gramian",
    "num_batched",
    "problems",
    "scores",
    "stein_directions",
    "stein_gramian",
    "to_inference_data",
    "weighting",
]
