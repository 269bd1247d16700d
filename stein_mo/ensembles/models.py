"""Ready-made members: the LeNet of the Multi-MNIST experiments (seed 000, after Sener & Koltun) and an MLP."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

__all__ = ["lenet", "mlp"]


def lenet(
    image_size: int = 36, num_tasks: int = 2, num_classes: int = 10, kernels: tuple[int, int] | None = None
) -> tuple[Callable[[], nn.Module], list[Callable[[], nn.Module]]]:
    """(encoder, heads) builders: conv(10, k1) → pool → conv(20, k2) → pool → fc(50); a linear head per task.

    ``kernels`` defaults to (9, 5) on 36×36 Multi-MNIST and (3, 2) on smaller images such as 12×12 MultiDigits.

    >>> import torch
    >>> enc, heads = lenet()
    >>> enc()(torch.zeros(1, 1, 36, 36)).shape, len(heads)
    (torch.Size([1, 50]), 2)
    """
    k1, k2 = kernels or ((9, 5) if image_size >= 28 else (3, 2))
    side = ((image_size - k1 + 1) // 2 - k2 + 1) // 2
    if side < 1:
        raise ValueError(f"kernels {(k1, k2)} leave nothing of a {image_size}×{image_size} image")

    def encoder() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(1, 10, k1), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(10, 20, k2), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(), nn.Linear(20 * side * side, 50), nn.ReLU(),
        )  # fmt: skip

    return encoder, [lambda: nn.Linear(50, num_classes)] * num_tasks


def mlp(
    in_features: int, num_tasks: int, hidden: int = 128, out_features: int = 1
) -> tuple[Callable[[], nn.Module], list[Callable[[], nn.Module]]]:
    """(encoder, heads) builders: two ReLU layers of ``hidden`` units, a linear head per task (SARCOS: 21 → 7 × 1)."""

    def encoder() -> nn.Module:
        return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())

    return encoder, [lambda: nn.Linear(hidden, out_features)] * num_tasks
