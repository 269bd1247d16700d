"""Metrics: Pareto-set quality (hypervolume, IGD+, non-dominated filter)."""

from .pareto import hypervolume, igd_plus, non_dominated

__all__ = ["hypervolume", "igd_plus", "non_dominated"]
