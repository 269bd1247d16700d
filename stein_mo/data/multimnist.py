r"""Multi-MNIST from standard files: two digits on a 36×36 canvas, left at the top-left, right at the bottom-right.

The recipe (fixed so that results compare across runs): a zero canvas, the left digit at rows/cols [0:28, 0:28],
the right digit at [8:36, 8:36], pixel-wise maximum, divided by 255. Training pairs from n training digits:
left = 0..n-1 twice; with ``rs = numpy.random.RandomState(0)``, ``j = rs.randint(0, n - 1, size=2n)`` and
right = ``j + (j >= left)`` (uniform over the other digits). Test pairs: left = every test digit in file order,
right = ``RandomState(1).permutation(n_test)``. Labels are (left, right).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .files import DataError, check_file

__all__ = ["multi_mnist", "overlay_pairs", "read_idx", "read_mnist_csv"]

KNOWN_SHA256 = {
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "mnist_5k.csv.gz": "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array; the header's shape is checked against the data length."""
    path = check_file(path, KNOWN_SHA256.get(Path(path).name), "IDX file")
    try:
        with _open(path) as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}") from e
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path}: header says {shape} ({int(np.prod(shape))} values) but holds {body.size}")
    return body.reshape(shape)


def read_mnist_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A CSV of 784 pixel values (0-255) then the label per row → images (n, 28, 28) uint8 and labels (n,)."""
    path = check_file(path, KNOWN_SHA256.get(Path(path).name), "MNIST CSV")
    try:
        with _open(path) as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except (OSError, EOFError, ValueError) as e:
        raise DataError(f"cannot read {path}: {e}") from e
    if table.ndim != 2 or table.shape[1] != 785 or table.min() < 0 or table[:, :784].max() > 255:
        raise DataError(f"{path}: expected rows of 784 pixels in 0..255 then a label, got shape {table.shape}")
    return table[:, :784].reshape(-1, 28, 28).astype(np.uint8), table[:, 784]


def overlay_pairs(images: np.ndarray, left: np.ndarray, right: np.ndarray, canvas: int = 36) -> Tensor:
    """(n, 1, canvas, canvas) float32 in [0, 1]: image ``left[i]`` at the top-left, ``right[i]`` at the bottom-right."""
    h = images.shape[-1]
    out = np.zeros((len(left), canvas, canvas), dtype=np.uint8)
    out[:, :h, :h] = images[left]
    off = canvas - h
    out[:, off:, off:] = np.maximum(out[:, off:, off:], images[right])
    return torch.from_numpy(out.astype(np.float32) / 255.0)[:, None]


def multi_mnist(
    train_csv: str | Path, test_images: str | Path, test_labels: str | Path
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """((x_train, y_train), (x_test, y_test)) following the recipe above; y is (n, 2) (left, right) labels."""
    train_x, train_y = read_mnist_csv(train_csv)
    test_x, test_y = read_idx(test_images), read_idx(test_labels)
    if test_x.shape[1:] != (28, 28) or test_y.shape != test_x.shape[:1]:
        raise DataError(f"test images {test_x.shape} and labels {test_y.shape} do not match")
    n = len(train_x)
    left = np.concatenate([np.arange(n), np.arange(n)])
    j = np.random.RandomState(0).randint(0, n - 1, size=2 * n)
    right = j + (j >= left)
    t_left = np.arange(len(test_x))
    t_right = np.random.RandomState(1).permutation(len(test_x))
    y_train = torch.from_numpy(np.stack([train_y[left], train_y[right]], 1))
    y_test = torch.from_numpy(np.stack([test_y[t_left], test_y[t_right]], 1).astype(np.int64))
    return (overlay_pairs(train_x, left, right), y_train), (overlay_pairs(test_x, t_left, t_right), y_test)
