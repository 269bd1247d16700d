"""File checks shared by the loaders: existence, checksums, clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["DataError", "check_file", "sha256"]


class DataError(ValueError):
    """A data file is missing, corrupt or not in the expected format."""


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_file(path: str | Path, expected_sha256: str | None = None, what: str = "data file") -> Path:
    """``path`` as a Path, after checking that it exists and, when given, its SHA-256."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    if expected_sha256 is not None and sha256(path) != expected_sha256:
        raise DataError(f"{what} {path} is corrupt or not the expected file (SHA-256 mismatch)")
    return path
