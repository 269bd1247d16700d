"""Multi-MNIST-mini study: the seed's Table 1 comparison on real MNIST digits, at a size a CPU runs in ~20 minutes.

Train on the 10,000 pairs built from the 5,000 training digits (the last 1,000 pairs are the validation split used
to select each ensemble's epoch), test on the 10,000 pairs from the real test set; LeNet, M = 5, Adam 1e-3, batch
256, one warm-up epoch of linear scalarisation (as the reference code) for every method, the same seed for all.

    python benchmarks/study_multi_mnist.py --data-dir ../shared/data/mnist --out docs/_static/multi_mnist

prints the per-task table and writes results.json, the reliability diagrams and the training curves.
"""

import argparse

import torch

from stein_mo.cli import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--out", default="docs/_static/multi_mnist")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    main([
        "mtl", "--dataset", "multi-mnist", "--data-dir", args.data_dir, "--method", "mt-sgd,moo-svgd,ls,mgda",
        "--particles", "5", "--epochs", str(args.epochs), "--batch-size", "256", "--lr", "1e-3", "--warmup", "1",
        "--device", args.device, "--out", args.out, "--no-progress",
    ])  # fmt: skip
