"""Multi-task datasets: the embedded MultiDigits, Multi-MNIST from standard files, and SARCOS."""

from .files import DataError, sha256
from .multidigits import MultiDigits
from .multimnist import multi_mnist, overlay_pairs, read_idx, read_mnist_csv
from .sarcos import load_sarcos

__all__ = [
    "DataError",
    "MultiDigits",
    "load_sarcos",
    "multi_mnist",
    "overlay_pairs",
    "read_idx",
    "read_mnist_csv",
    "sha256",
]
