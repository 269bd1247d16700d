"""Every training method on the embedded MultiDigits data (the `stein-mo mtl` defaults: LeNet for 12×12, M = 5,
15 epochs, Adam 3e-3, batch 128, one seed), one CPU thread. Writes the docs table; the run's own files (results.json,
reliability diagrams) go to a scratch folder.

    python benchmarks/study_methods_multidigits.py [--out /tmp/multidigits_methods]

One seed and 3,600 test pairs: differences below about one point of accuracy are within seed-to-seed noise.
"""

import argparse
import json
from pathlib import Path

import torch

from stein_mo.cli import main
from stein_mo.ensembles import BALANCERS, METHODS
from stein_mo.weighting import WEIGHTINGS

TABLE = Path(__file__).resolve().parents[1] / "docs" / "_static" / "multidigits_methods.rst"


def write_table(out: Path) -> str:
    r = json.loads((out / "results.json").read_text())
    rows = []
    for name, m in r["methods"].items():
        tl, br = m["test"]
        rows.append([
            f"``{name}``", f"{100 * tl['accuracy']:.1f} / {100 * br['accuracy']:.1f}",
            f"{100 * tl['ece']:.1f} / {100 * br['ece']:.1f}", f"{tl['brier']:.3f} / {br['brier']:.3f}",
            f"{50 * (tl['member_accuracy'] + br['member_accuracy']):.1f}", f"{m['seconds']:.1f}",
        ])  # fmt: skip
    head = ["method", "accuracy %", "ECE %", "Brier", "member acc. %", "train s"]
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    line = "  ".join("=" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    text = [line, fmt.format(*head).rstrip(), line, *[fmt.format(*x).rstrip() for x in rows], line]
    header = (
        f"MultiDigits, {r['particles']} members, {r['epochs']} epochs, seed {r['seed']}, {r['device']}, one thread "
        "(``python benchmarks/study_methods_multidigits.py``). Test metrics of each ensemble (top-left / bottom-right "
        "task) at the epoch selected on the validation split; member accuracy is the members' mean over both tasks."
    )
    rst = header + "\n\n" + "\n".join(text) + "\n"
    TABLE.write_text(rst)
    return rst


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/multidigits_methods")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = list(dict.fromkeys([*METHODS, *WEIGHTINGS, *BALANCERS, "gradnorm"]))
    main(["mtl", "--method", ",".join(names), "--out", args.out, "--no-progress"])
    print(write_table(Path(args.out)))
