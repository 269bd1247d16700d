"""ZDT problems against pymoo and the literature; objectives as targets, bounds, the loss-space kernel, the demo."""

import json

import numpy as np
import pytest
import torch

import stein_mo
from stein_mo.cli import main
from stein_mo.metrics import hypervolume
from stein_mo.problems import ZDT, objective_targets

LITERATURE = [(0.0, 0.0830), (0.1822, 0.2578), (0.4093, 0.4539), (0.6184, 0.6525), (0.8233, 0.8518)]


def test_zdt3_front_intervals_match_the_literature():
    intervals = ZDT(3).front_intervals()
    assert len(intervals) == 5
    np.testing.assert_allclose(np.array(intervals), np.array(LITERATURE), atol=2e-4)
    assert ZDT(1).front_intervals(1001) == [(0.0, 1.0)] and ZDT(2).front_intervals(1001) == [(0.0, 1.0)]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_objectives_and_fronts_match_pymoo(k):
    problems = pytest.importorskip("pymoo.problems")
    peer = problems.get_problem(f"zdt{k}")
    x = np.random.default_rng(k).random((50, 30))
    x[:, 0] = np.clip(x[:, 0], 1e-6, None)  # ours freezes sqrt(f1/g) below 1e-12 to keep its gradient finite
    np.testing.assert_allclose(ZDT(k)(torch.as_tensor(x)).numpy(), peer.evaluate(x), rtol=1e-12, atol=1e-12)
    # exact front HVs: ZDT1 int_0^1 (0.1 + sqrt f) + 0.11 = 0.87667, ZDT2 0.1 + 1/3 + 0.11; ZDT3 the quoted 6.519
    ref = [1.1, 1.1] if k < 3 else [0.99022638, 6.54635266]
    exact = {1: 0.21 + 2 / 3, 2: 0.21 + 1 / 3, 3: 6.519}[k]
    assert hypervolume(ZDT(k).front(20001), ref) == pytest.approx(exact, abs=1e-3)
    assert hypervolume(peer.pareto_front(), ref) <= exact + 1e-3  # pymoo's front is a coarser sample of the same


def test_objective_targets_and_errors():
    zdt = ZDT(3)
    t = objective_targets(zdt, 2, temperature=0.5)
    x = torch.rand(7, 30, dtype=torch.float64)
    torch.testing.assert_close(t(x.expand(2, 7, 30)), -zdt(x).T / 0.5)
    assert t.num_targets == 2
    with pytest.raises(ValueError, match="temperature"):
        objective_targets(zdt, 2, temperature=0.0)
    with pytest.raises(ValueError, match="30 variables"):
        zdt(torch.rand(3, 5))


def test_bounds_clamp_and_are_checked():
    target = lambda x: -((x - 3.0) ** 2).sum(-1)  # noqa: E731  pulls every coordinate to 3, outside the box
    sampler = stein_mo.SVGD(target, bounds=(0.0, 1.0))
    x = sampler.run(torch.rand(10, 2), 200, lr=0.1).particles
    assert x.min() >= 0.0 and x.max() <= 1.0 and (x == 1.0).any()
    with pytest.raises(ValueError, match="outside the bounds"):
        sampler.run(torch.rand(10, 2) + 2.0, 1)
    with pytest.raises(ValueError, match="lower < upper"):
        stein_mo.SVGD(target, bounds=(1.0, 0.0))


def test_kernel_on_log_densities():
    t = objective_targets(ZDT(1), 2)
    x0 = torch.rand(12, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for sampler in (
        stein_mo.MOOSVGD(t, bounds=(0.0, 1.0), kernel_on="log_densities"),
        stein_mo.MTSGD(t, bounds=(0.0, 1.0), kernel_on="log_densities"),
    ):
        before = hypervolume(ZDT(1)(x0), [1.1, 11.0])
        after = hypervolume(ZDT(1)(sampler.run(x0, 300, lr=1e-2).particles), [1.1, 11.0])
        assert after > before  # the particles move towards the front
    with pytest.raises(ValueError, match="kernel_on"):
        stein_mo.SVGD(lambda x: -x.pow(2).sum(-1), kernel_on="loss")


def test_cli_demo_zdt3(tmp_path):
    assert main(["demo", "zdt3", "--steps", "20", "--particles", "8", "--out", str(tmp_path), "--no-progress"]) == 0
    meta = json.loads((tmp_path / "zdt3.json").read_text())
    assert set(meta["metrics"]) == {"MOO-SVGD", "MT-SGD"}
    assert len(meta["metrics"]["MT-SGD"]["share_on_each_front_segment"]) == 5
    assert meta["true_front_hypervolume"] == pytest.approx(6.519, abs=1e-3)
    assert (tmp_path / "zdt3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["demo", "zdt3", "--lr", "-1", "--out", str(tmp_path)]) == 2


def test_cli_sampler_option(tmp_path):
    args = ["--steps", "10", "--particles", "6", "--out", str(tmp_path), "--no-progress", "--sampler", "moo-svgd"]
    assert main(["demo", "zdt3", *args]) == 0
    assert set(json.loads((tmp_path / "zdt3.json").read_text())["metrics"]) == {"MOO-SVGD"}
    assert main(["demo", "mixture", *args[:-1], "mt-sgd"]) == 0
    assert set(json.loads((tmp_path / "mixture.json").read_text())["metrics"]) == {
        "MT-SGD (exact U)",
        "MT-SGD (normalized)",
    }
