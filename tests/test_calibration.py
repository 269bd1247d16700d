"""Calibration metrics against torchmetrics and scikit-learn (test-only), and hand-computed ties at bin edges."""

import numpy as np
import pytest
import torch

from stein_mo.metrics import accuracy, brier, ece, ensemble_predictive, gaussian_nll, member_metrics, nll, reliability


def random_predictions(seed, N=500, C=4):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(2 * torch.randn(N, C, generator=g, dtype=torch.float64), 1)
    labels = torch.randint(0, C, (N,), generator=g)
    return probs, labels


@pytest.mark.parametrize("seed", range(5))
def test_against_torchmetrics_and_sklearn(seed):
    tm = pytest.importorskip("torchmetrics.functional.classification")
    skm = pytest.importorskip("sklearn.metrics")
    probs, labels = random_predictions(seed)
    for n_bins in (5, 10, 15):
        theirs = tm.multiclass_calibration_error(probs, labels, num_classes=4, n_bins=n_bins, norm="l1")
        # no confidence lies on a bin edge here, so both conventions agree with torchmetrics (left-closed)
        for closed in ("left", "right"):
            # torchmetrics works in float32 internally: agreement to its precision
            assert ece(probs, labels, n_bins, closed).item() == pytest.approx(theirs.item(), abs=1e-6)
    assert accuracy(probs, labels).item() == pytest.approx(skm.accuracy_score(labels, probs.argmax(1)))
    assert nll(probs, labels).item() == pytest.approx(skm.log_loss(labels, probs, labels=range(4)), rel=1e-12)
    onehot = np.eye(4)[labels.numpy()]
    assert brier(probs, labels).item() == pytest.approx(((probs.numpy() - onehot) ** 2).sum(1).mean(), rel=1e-12)
    # scikit-learn's multi-class Brier score is the same sum over classes, averaged over samples
    sk = skm.brier_score_loss(labels.numpy(), probs.numpy(), labels=list(range(4)), scale_by_half=False)
    assert brier(probs, labels).item() == pytest.approx(sk, rel=1e-12)


def test_ties_at_bin_edges_for_both_conventions():
    # top confidences exactly 0.7, 0.5, 0.5 and 1.0, all on edges of 10 bins; correct, wrong, correct, correct
    probs = torch.tensor([[0.3, 0.7, 0.0], [0.5, 0.5, 0.0], [0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])
    labels = torch.tensor([1, 1, 0, 0])  # row 1 predicts class 0 (the first maximum): wrong
    right = reliability(probs, labels, 10, "right")
    left = reliability(probs, labels, 10, "left")
    # right-closed (l, u]: 0.7 -> bin 6 (0.6, 0.7], 0.5 -> bin 4 (0.4, 0.5], 1.0 -> bin 9
    assert right["count"].tolist() == [0, 0, 0, 0, 2, 0, 1, 0, 0, 1]
    # left-closed [l, u): 0.7 -> bin 7 [0.7, 0.8), 0.5 -> bin 5 [0.5, 0.6), 1.0 -> the last bin [0.9, 1]
    assert left["count"].tolist() == [0, 0, 0, 0, 0, 2, 0, 1, 0, 1]
    # the ECE is the same here (only the bin labels move): (2 |0.5 - 0.5| + |1 - 0.7| + |1 - 1|) / 4
    assert ece(probs, labels, 10, "right").item() == pytest.approx(0.075)
    assert ece(probs, labels, 10, "left").item() == pytest.approx(0.075)
    # a case where the conventions give different ECE: 0.6 and 0.65 share (0.6, 0.7] only when 0.6 is left-closed
    p2 = torch.tensor([[0.6, 0.4], [0.65, 0.35]])
    y2 = torch.tensor([0, 1])
    assert ece(p2, y2, 10, "right").item() == pytest.approx((abs(1 - 0.6) + abs(0 - 0.65)) / 2)
    assert ece(p2, y2, 10, "left").item() == pytest.approx(abs(0.5 - 0.625))


def test_ensemble_and_regression_metrics():
    members = torch.softmax(torch.randn(5, 30, 3, dtype=torch.float64), -1)
    labels = torch.randint(0, 3, (30,))
    mean = ensemble_predictive(members)
    torch.testing.assert_close(mean, members.mean(0))
    per = member_metrics(members, labels)
    assert per["brier"].shape == (5,)
    assert brier(mean, labels) <= per["brier"].mean() + 1e-12  # the Brier score is convex: averaging helps
    y, mu, var = torch.randn(20), torch.randn(20), torch.rand(20) + 0.5
    expected = torch.distributions.Normal(mu, var.sqrt()).log_prob(y).neg().mean()
    torch.testing.assert_close(gaussian_nll(mu, var, y), expected)


def test_metric_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        ece(torch.rand(4, 3) + 0.5, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must be integers"):
        brier(torch.full((2, 2), 0.5), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="closed"):
        ece(torch.full((2, 2), 0.5), torch.tensor([0, 1]), closed="both")


def test_reliability_diagram_draws():
    import matplotlib

    matplotlib.use("Agg")
    from stein_mo.plotting import plot_reliability

    probs, labels = random_predictions(0)
    ax = plot_reliability(probs, labels, label="model")
    assert len(ax.patches) == int((reliability(probs, labels)["count"] > 0).sum())
    assert "ECE" in ax.get_legend().get_texts()[0].get_text()
