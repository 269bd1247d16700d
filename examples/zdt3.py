"""Seed 000, Figure 4: MOO-SVGD and MT-SGD on ZDT3 (50 particles, Adam 5e-4, 10,000 steps), objective space.

Writes ``docs/_static/zdt3.png`` and ``docs/_static/zdt3.json`` through ``stein-mo demo zdt3``, once with the kernel
on objective values (the MOO-SVGD reference's choice, the demo's default) and once on x
(``zdt3_x_kernel.png``). Run: ``python examples/zdt3.py`` (about a minute).
"""

from pathlib import Path

import torch

from stein_mo.cli import main as cli

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static"

if __name__ == "__main__":
    torch.set_num_threads(1)
    cli(["demo", "zdt3", "--out", str(OUT), "--no-progress"])
    tmp = OUT / "zdt3_x_kernel"
    cli(["demo", "zdt3", "--out", str(tmp), "--no-progress", "--kernel-on", "particles"])
    (tmp / "zdt3.png").replace(OUT / "zdt3_x_kernel.png")
    (tmp / "zdt3.json").replace(OUT / "zdt3_x_kernel.json")
    tmp.rmdir()
