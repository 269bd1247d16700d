"""Toy problems: Gaussian mixtures, including the three mixtures of seed 000."""

from .mixtures import JOINT_MODE, GaussianMixture, three_mixtures

__all__ = ["JOINT_MODE", "GaussianMixture", "three_mixtures"]
