"""Particle ensembles of ``nn.Module``: M copies of a network, stacked and run as one vectorised model."""

from .particles import ParticleEnsemble

__all__ = ["ParticleEnsemble"]
