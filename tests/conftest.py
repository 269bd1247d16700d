import pytest
import torch

# One thread: on a 2-core machine two threads per process made small steps up to 20x slower, and CI may run
# other work beside the suite.
torch.set_num_threads(1)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def gaussian(mean, prec=None):
    """log N(mean, prec^{-1}) up to a constant, as a target callable."""
    mean = torch.as_tensor(mean, dtype=torch.float64)

    def logp(x):
        z = x - mean.to(x)
        if prec is None:
            return -0.5 * (z * z).sum(-1)
        return -0.5 * ((z @ torch.as_tensor(prec).to(x)) * z).sum(-1)

    return logp
