"""SVGD's variance collapse with dimension: 100 particles on N(0, I_d), median-heuristic RBF, Adam lr 0.05, 1000 steps.

Prints the mean per-coordinate particle variance (the target's is 1) for d = 1 ... 100. Run:
``python examples/svgd_dimension.py``.
"""

import torch

import stein_mo

if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"{'d':>4} {'variance':>9}")
    for d in (1, 2, 5, 10, 20, 50, 100):
        x0 = 2 * torch.randn(100, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 1
        X = stein_mo.SVGD(lambda x: -0.5 * (x**2).sum(-1)).run(x0, 1000, lr=0.05).particles
        print(f"{d:>4} {X.var(0).mean().item():>9.3f}")
