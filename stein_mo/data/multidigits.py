"""MultiDigits: the embedded default multi-task dataset, from scikit-learn's bundled 8×8 digits (no files).

Two digits on a 12×12 canvas, the left one at the top-left [0:8, 0:8], the right one at the bottom-right [4:12,
4:12], pixel-wise maximum, scaled to [0, 1]: the 8×8 counterpart of Multi-MNIST. Task 1 is the left digit's
class, task 2 the right one's. Pairs are drawn as in Multi-MNIST (every digit is a left digit ``pairs_per_digit``
times; its partner is uniform over the other digits), from a train/validation/test split of the 1,797 digits made
before pairing, so that no digit appears in two splits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .multimnist import overlay_pairs

__all__ = ["MultiDigits"]


class MultiDigits:
    """``MultiDigits(seed=0)``: ``.train``, ``.val``, ``.test`` as (images (n, 1, 12, 12), labels (n, 2)).

    >>> data = MultiDigits()
    >>> x, y = data.train
    >>> tuple(x.shape[1:]), tuple(y.shape[1:]), data.num_classes
    ((1, 12, 12), (2,), 10)
    """

    num_tasks = 2
    num_classes = 10

    def __init__(self, seed: int = 0, fractions: tuple[float, float] = (0.6, 0.2), pairs_per_digit: int = 2) -> None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = (digits.images * (255 / 16)).round().astype(np.uint8)  # 0..16 → 0..255
        labels = digits.target
        rs = np.random.RandomState(seed)
        order = rs.permutation(len(images))
        a = int(fractions[0] * len(order))
        b = a + int(fractions[1] * len(order))
        self.train = self._pairs(images, labels, order[:a], rs, pairs_per_digit)
        self.val = self._pairs(images, labels, order[a:b], rs, pairs_per_digit)
        self.test = self._pairs(images, labels, order[b:], rs, pairs_per_digit)

    @staticmethod
    def _pairs(images, labels, idx, rs, k) -> tuple[Tensor, Tensor]:
        n = len(idx)
        left = np.tile(np.arange(n), k)
        j = rs.randint(0, n - 1, size=k * n)
        right = j + (j >= left)
        x = overlay_pairs(images[idx], left, right, canvas=12)
        y = torch.from_numpy(np.stack([labels[idx][left], labels[idx][right]], 1).astype(np.int64))
        return x, y
