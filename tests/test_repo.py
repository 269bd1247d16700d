"""Repository hygiene that CI enforces: the docs build without warnings and the code is ruff clean."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(ROOT / "docs"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_ruff_clean():
    """``ruff check`` and ``ruff format --check``, through this interpreter (a virtual environment need not be
    activated for its ruff to be found)."""
    pytest.importorskip("ruff")
    for args in (["check"], ["format", "--check"]):
        out = subprocess.run([sys.executable, "-m", "ruff", *args, str(ROOT)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
