"""ArviZ export: particles as the draws of a single chain, the run's diagnostics in ``sample_stats``.

R-hat and ESS are meaningless for particles: they are neither a Markov chain nor independent draws, but a
deterministic, interacting set. Use ArviZ for summaries and plots of the particle distribution, not for
convergence diagnostics; the KSD trace (``run(..., ksd=True)``) is the convergence measure here.
"""

from __future__ import annotations

import numpy as np
import torch

from .samplers.base import RunResult

__all__ = ["to_inference_data"]


def to_inference_data(result: RunResult):
    """ArviZ's container for a run: ``InferenceData`` with arviz 0.x, a ``DataTree`` with arviz 1.x.

    ``posterior`` holds the constrained sites of a Pyro target (one chain, M draws), or ``x`` (M, d) for plain
    targets. ``sample_stats`` holds the per-step history (bandwidth, step norm, weights, KSD, log densities)
    along its ``draw`` dimension, which there counts steps: a trace of the run, not per-draw statistics.
    """
    import arviz as az

    if not isinstance(result, RunResult):
        raise TypeError(f"expected a RunResult from Sampler.run, got {type(result).__name__}")
    samples = result.samples if result.samples is not None else {"x": result.particles}
    posterior = {k: np.asarray(torch.as_tensor(v).detach().cpu())[None] for k, v in samples.items()}
    # one chain; sample_stats' "draw" dimension is the run's step
    stats = {k: np.asarray(v.detach().cpu())[None] for k, v in result.history.items()}
    if int(az.__version__.split(".")[0]) >= 1:  # arviz 1.x: from_dict takes {group: {variable: array}}
        return az.from_dict({"posterior": posterior, "sample_stats": stats})
    return az.from_dict(posterior=posterior, sample_stats=stats)
