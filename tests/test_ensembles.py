"""The vectorised ensemble against M separate networks: outputs and gradients (float64)."""

import pytest
import torch

from stein_mo.ensembles import ParticleEnsemble


def make():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 6, 4)
    ).double()


def test_vectorised_ensemble_equals_separate_networks():
    torch.manual_seed(0)
    ens = ParticleEnsemble(make, 5)
    members = [ens.member(m) for m in range(5)]
    x = torch.randn(7, 1, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 4, (7,))
    out = ens(x)
    assert out.shape == (5, 7, 4)
    for m, net in enumerate(members):
        torch.testing.assert_close(out[m], net(x), rtol=1e-12, atol=1e-12)
    # one backward through the vectorised ensemble = M separate backward passes
    loss = torch.nn.functional.cross_entropy(out.reshape(35, 4), y.repeat(5), reduction="sum")
    grads = torch.autograd.grad(loss, list(ens.params))
    for m, net in enumerate(members):
        net_grads = torch.autograd.grad(torch.nn.functional.cross_entropy(net(x), y, reduction="sum"), net.parameters())
        for g, h in zip(grads, net_grads, strict=True):
            torch.testing.assert_close(g[m], h, rtol=1e-6, atol=1e-10)


def test_members_are_independent_and_flat_is_differentiable():
    ens = ParticleEnsemble(lambda: torch.nn.Linear(3, 2), 3)
    flat = ens.flat()
    assert flat.shape == (3, 8) and not torch.equal(flat[0], flat[1])
    flat.pow(2).sum().backward()
    torch.testing.assert_close(ens.params[0].grad, 2 * ens.params[0].detach())
    with pytest.raises(ValueError, match="at least one particle"):
        ParticleEnsemble(make, 0)
