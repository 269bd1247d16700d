"""Training API: the vmapped Jacobian equals a loop of backward calls; mtl_backward and MGDA-UB set the right grads."""

import pytest
import torch

import stein_mo
from stein_mo.weighting import jacobian, mgda_ub_backward, mtl_backward


def model(seed=0):
    torch.manual_seed(seed)
    shared = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh()).double()
    heads = torch.nn.ModuleList([torch.nn.Linear(8, 1).double() for _ in range(3)])
    x, y = torch.randn(16, 5, dtype=torch.float64), torch.randn(16, 3, dtype=torch.float64)
    return shared, heads, x, y


def task_losses(shared, heads, x, y):
    z = shared(x)
    return torch.stack([((h(z)[:, 0] - y[:, k]) ** 2).mean() for k, h in enumerate(heads)]), z


def loop_jacobian(losses, params):
    rows = []
    for k in range(len(losses)):
        grads = torch.autograd.grad(losses[k], params, retain_graph=True, allow_unused=True)
        flat = [(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params, strict=True)]
        rows.append(torch.cat(flat))
    return torch.stack(rows)


def test_vmapped_jacobian_equals_loop():
    shared, heads, x, y = model()
    params = list(shared.parameters()) + list(heads.parameters())  # heads: each loss misses two of them
    losses, _ = task_losses(shared, heads, x, y)
    expected = loop_jacobian(losses, params)
    torch.testing.assert_close(jacobian(losses, params), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", ["mean", "mgda", "upgrad", "dualproj"])
def test_mtl_backward_sets_aggregated_and_summed_grads(method):
    shared, heads, x, y = model()
    losses, _ = task_losses(shared, heads, x, y)
    J = loop_jacobian(losses, list(shared.parameters()))
    head_grads = torch.autograd.grad(losses.sum(), list(heads.parameters()), retain_graph=True)
    w = mtl_backward(losses, shared.parameters(), heads.parameters(), method=method)
    flat = torch.cat([p.grad.flatten() for p in shared.parameters()])
    torch.testing.assert_close(flat, stein_mo.aggregate(J, method), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(flat, J.T @ w, rtol=1e-10, atol=1e-12)
    for p, g in zip(heads.parameters(), head_grads, strict=True):
        torch.testing.assert_close(p.grad, g)


def test_mtl_backward_upgrad_decreases_every_loss():
    shared, heads, x, y = model(1)
    opt = torch.optim.SGD(list(shared.parameters()) + list(heads.parameters()), lr=1e-3)
    before, _ = task_losses(shared, heads, x, y)
    mtl_backward(before, shared.parameters(), heads.parameters(), method="upgrad")
    opt.step()
    after, _ = task_losses(shared, heads, x, y)
    assert (after < before.detach()).all()


def test_mgda_ub_uses_representation_gradients():
    shared, heads, x, y = model(2)
    losses, z = task_losses(shared, heads, x, y)
    Jz = loop_jacobian(losses, [z])
    w_expected = stein_mo.min_norm_weights(Jz @ Jz.T)
    params = list(shared.parameters()) + list(heads.parameters())
    grads = torch.autograd.grad((w_expected * losses).sum(), params, retain_graph=True)
    w = mgda_ub_backward(losses, z, shared.parameters(), heads.parameters())
    torch.testing.assert_close(w, w_expected, rtol=1e-10, atol=1e-12)
    for p, g in zip(params, grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-10, atol=1e-12)


def test_training_api_errors():
    shared, heads, x, y = model()
    losses, _ = task_losses(shared, heads, x, y)
    with pytest.raises(ValueError, match="1-D tensor"):
        mtl_backward(losses.sum(), shared.parameters())
    with pytest.raises(ValueError, match=r"non-finite losses for tasks \[1\]"):
        mtl_backward(losses * torch.tensor([1.0, float("nan"), 1.0], dtype=torch.float64), shared.parameters())
    with pytest.raises(ValueError, match="no parameters"):
        mtl_backward(losses, [])
    with pytest.raises(ValueError, match="require grad"):
        jacobian(losses.detach(), list(shared.parameters()))
