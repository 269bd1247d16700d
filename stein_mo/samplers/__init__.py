"""Particle samplers: SVGD (one target), MT-SGD and MOO-SVGD (several), sharing one run loop."""

from .base import RunResult, Sampler, SamplerState
from .moo_svgd import MOOSVGD
from .mtsgd import MTSGD
from .svgd import SVGD

__all__ = ["MOOSVGD", "MTSGD", "SVGD", "RunResult", "Sampler", "SamplerState"]
