"""Pareto metrics against pymoo (test-only) and hand-computed cases."""

import numpy as np
import pytest
import torch

from stein_mo.metrics import hypervolume, igd_plus, non_dominated

pymoo_hv = pytest.importorskip("pymoo.indicators.hv")
pymoo_igd = pytest.importorskip("pymoo.indicators.igd_plus")


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_hypervolume_and_igd_plus_match_pymoo(m, seed):
    rng = np.random.default_rng(seed)
    F = rng.random((40 + 20 * seed, m))
    if seed % 2:  # points on a curved front plus dominated ones
        F[:20] = F[:20] / np.linalg.norm(F[:20], axis=1, keepdims=True)
    ref = np.full(m, 1.2)
    assert hypervolume(F, ref) == pytest.approx(pymoo_hv.HV(ref_point=ref)(F), rel=1e-12)
    Z = rng.random((30, m))
    assert igd_plus(F, Z) == pytest.approx(pymoo_igd.IGDPlus(Z)(F), rel=1e-12)
    assert hypervolume(torch.as_tensor(F), torch.as_tensor(ref)) == hypervolume(F, ref)  # torch in, same answer


def test_zdt3_front_matches_pymoo():
    front = pytest.importorskip("pymoo.problems").get_problem("zdt3").pareto_front()
    ref = np.array([0.99022638, 6.54635266])
    assert hypervolume(front, ref) == pytest.approx(pymoo_hv.HV(ref_point=ref)(front), rel=1e-12)
    assert igd_plus(front[::7], front) == pytest.approx(pymoo_igd.IGDPlus(front)(front[::7]), rel=1e-12)


def test_hand_computed_cases():
    assert hypervolume([[1.0, 2.0], [2.0, 1.0]], [3.0, 3.0]) == 3.0
    assert hypervolume([[0.0, 0.0, 0.0]], [1.0, 2.0, 3.0]) == 6.0
    # two unit-cube corners: 2 * (1*1*1) ... boxes [0.5,1]^3 shifted: overlap measured by inclusion-exclusion
    assert hypervolume([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]], [1.0, 1.0, 1.0]) == pytest.approx(0.5 * 0.5 * 2 - 0.125)
    assert hypervolume([[2.0, 0.0]], [1.0, 1.0]) == 0.0  # does not dominate the reference point
    assert hypervolume([[0.5, 0.5], [0.5, 0.5], [0.7, 0.7]], [1.0, 1.0]) == 0.25  # duplicates and dominated
    assert igd_plus([[0.0, 0.0]], [[1.0, 1.0]]) == 0.0  # F dominates Z: no penalty (unlike IGD)
    assert igd_plus([[1.0, 2.0]], [[0.0, 0.0]]) == pytest.approx(5**0.5)
    assert non_dominated([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0], [2.0, 2.0]]).tolist() == [True, True, True, False]


def test_metric_errors():
    with pytest.raises(ValueError, match=r"shape \(N, m\)"):
        hypervolume(np.ones(3), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="non-finite"):
        igd_plus([[np.nan, 1.0]], [[0.0, 0.0]])
    with pytest.raises(ValueError, match="ref must be a finite point with 2"):
        hypervolume([[0.0, 0.0]], [1.0])
    with pytest.raises(ValueError, match="objectives"):
        igd_plus([[0.0, 0.0]], [[0.0, 0.0, 0.0]])
