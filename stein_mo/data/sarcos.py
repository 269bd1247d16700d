"""SARCOS inverse dynamics (Vijayakumar et al.): 21 inputs (joint positions, velocities, accelerations), 7 torques."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .files import DataError, check_file

__all__ = ["load_sarcos"]

KNOWN_SHA256 = {"sarcos_inv_test.mat": "161a59b5c3b4f4b404584323f181607b2acbe620eb134dc720760dc3f38f5cec"}


def load_sarcos(path: str | Path) -> tuple[Tensor, Tensor]:
    """Inputs (n, 21) and torques (n, 7), float32, from a SARCOS ``.mat`` file (variable ``sarcos_inv`` or
    ``sarcos_inv_test``)."""
    from scipy.io import loadmat

    path = check_file(path, KNOWN_SHA256.get(Path(path).name), "SARCOS file")
    try:
        mat = loadmat(path)
    except Exception as e:  # scipy raises several types for non-MAT input
        raise DataError(f"cannot read {path} as a MATLAB file: {e}") from e
    names = [k for k in ("sarcos_inv", "sarcos_inv_test") if k in mat]
    if not names:
        raise DataError(f"{path} holds no 'sarcos_inv' or 'sarcos_inv_test' variable (found {sorted(mat)})")
    table = np.asarray(mat[names[0]], dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != 28 or not np.isfinite(table).all():
        raise DataError(f"{path}: expected a finite (n, 28) table, got {table.shape}")
    return torch.from_numpy(table[:, :21]).float(), torch.from_numpy(table[:, 21:]).float()
