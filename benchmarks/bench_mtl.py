"""Epoch time of multi-task ensemble training: LeNet on 12×12 (MultiDigits) and 36×36 (Multi-MNIST) inputs, M = 5,
and a two-layer MLP on the flattened 12×12 inputs at M = 5, 10 and 20.

Prints, measured in the same run on the same machine, one thread:
  * vectorised MT-SGD against the per-particle Python loop of the reference code (benchmarks/loop_mtsgd.py, the
    same update: tests/test_multitask.py checks them equal, for both Gramians) — the issue asks for >= 3x;
  * vectorised MT-SGD against a linear-scalarisation ensemble of the same M — the issue asks for <= 1.3x;
  * the other methods and MT-SGD's cheaper options, for context.

    python benchmarks/bench_mtl.py [--device cuda] [--batches 10] [--repeats 3]
"""

import argparse
import time

import torch
from loop_mtsgd import loop_mtsgd_step

from stein_mo.ensembles import MultiTaskEnsemble, get_method, lenet, mlp


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_vectorised(name, options, data, device, repeats, net, M=5, chunk_size=None):
    torch.manual_seed(0)
    enc, heads = net
    method = get_method(name, **options)
    model = MultiTaskEnsemble(enc, heads, M, shared=method.shared, chunk_size=chunk_size).to(device)
    method.num_data = 10_000
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    best = float("inf")
    for r in range(repeats + 1):  # the first pass warms up
        sync(device)
        start = time.perf_counter()
        for x, y in data:
            method.step(model, x, y, opt)
            opt.step()
            opt.zero_grad(set_to_none=True)
        sync(device)
        if r:
            best = min(best, time.perf_counter() - start)
    return best


def time_loop(data, device, repeats, net, M=5, gramian="parameters"):
    torch.manual_seed(0)
    enc, heads = net
    encoders = [enc().to(device) for _ in range(M)]
    hs = [[h().to(device) for h in heads] for _ in range(M)]
    best = float("inf")
    for r in range(repeats + 1):
        sync(device)
        start = time.perf_counter()
        for x, y in data:
            loop_mtsgd_step(encoders, hs, x, y, lr=1e-3, tau=1e-4, gramian=gramian)
        sync(device)
        if r:
            best = min(best, time.perf_counter() - start)
    return best


def bench(size, batch, args):
    g = torch.Generator().manual_seed(0)
    data = [
        (torch.rand(batch, 1, size, size, generator=g).to(args.device),
         torch.randint(0, 10, (batch, 2), generator=g).to(args.device))
        for _ in range(args.batches)
    ]  # fmt: skip
    print(f"\nLeNet on {size}x{size} inputs, M = 5, epoch = {args.batches} batches of {batch} (best of {args.repeats})")
    net = lenet(size)
    t = {"loop": time_loop(data, args.device, args.repeats, net)}
    runs = {
        "mt-sgd": ("mt-sgd", {}),
        "mt-sgd gramian=features": ("mt-sgd", {"gramian": "features"}),
        "mt-sgd kernel on parameters, gramian=features": ("mt-sgd", {"gramian": "features", "kernel_on": "parameters"}),
        "ls": ("ls", {}),
        "mgda": ("mgda", {}),
        "moo-svgd": ("moo-svgd", {}),
    }
    for label, (name, options) in runs.items():
        t[label] = time_vectorised(name, options, data, args.device, args.repeats, net)
    for name in ("mt-sgd", "ls"):  # members evaluated one at a time inside vmap: faster convolutions on one CPU thread
        t[f"{name} chunk_size=1"] = time_vectorised(name, {}, data, args.device, args.repeats, net, chunk_size=1)
        runs[f"{name} chunk_size=1"] = None
    print(f"{'method':<48}{'epoch s':>10}{'loop / it':>10}{'it / ls':>10}")
    rows = {"mt-sgd, per-particle loop (reference structure)": t["loop"], **{k: t[k] for k in runs}}
    for label, v in rows.items():
        print(f"{label:<48}{v:>10.3f}{t['loop'] / v:>10.2f}{v / t['ls']:>10.2f}")
    print(f"vectorised mt-sgd vs the loop: {t['loop'] / t['mt-sgd']:.2f}x faster (asks >= 3x); "
          f"mt-sgd / ls ensemble: {t['mt-sgd'] / t['ls']:.2f} (asks <= 1.3), gramian=features "
          f"{t['mt-sgd gramian=features'] / t['ls']:.2f}, kernel on parameters "
          f"{t['mt-sgd kernel on parameters, gramian=features'] / t['ls']:.2f}")  # fmt: skip


def bench_mlp(M, args, batch=128):
    """A 144-128-128 MLP encoder with two 10-class heads on flattened 12×12 inputs: little work per member, so the
    loop's per-member calls, not arithmetic, set its time. Each loop row is the same update as the vectorised row
    under it."""
    g = torch.Generator().manual_seed(0)
    data = [
        (torch.rand(batch, 144, generator=g), torch.randint(0, 10, (batch, 2), generator=g))
        for _ in range(args.batches)
    ]
    data = [(x.to(args.device), y.to(args.device)) for x, y in data]
    net, dev, rep = mlp(144, 2, hidden=128, out_features=10), args.device, args.repeats
    features, on_parameters = {"gramian": "features"}, {"gramian": "features", "kernel_on": "parameters"}
    t = {
        "loop": time_loop(data, dev, rep, net, M),
        "mt-sgd": time_vectorised("mt-sgd", {}, data, dev, rep, net, M),
        "loop, gramian=features": time_loop(data, dev, rep, net, M, gramian="features"),
        "mt-sgd gramian=features": time_vectorised("mt-sgd", features, data, dev, rep, net, M),
        "mt-sgd gramian=features, kernel on parameters": time_vectorised(
            "mt-sgd", on_parameters, data, dev, rep, net, M
        ),
        "ls": time_vectorised("ls", {}, data, dev, rep, net, M),
    }
    print(f"\nMLP 144-128-128, M = {M}, epoch = {args.batches} batches of {batch} (best of {args.repeats})")
    print(f"{'method':<48}{'epoch s':>10}{'it / ls':>10}")
    for label, v in t.items():
        print(f"{label:<48}{v:>10.3f}{v / t['ls']:>10.2f}")
    feat = t["mt-sgd gramian=features"]
    print(f"vectorised mt-sgd vs the loop: {t['loop'] / t['mt-sgd']:.2f}x faster (asks >= 3x), gramian=features "
          f"{t['loop, gramian=features'] / feat:.2f}x; mt-sgd / ls: {t['mt-sgd'] / t['ls']:.2f} (asks <= 1.3), "
          f"features {feat / t['ls']:.2f}, features + kernel on parameters "
          f"{t['mt-sgd gramian=features, kernel on parameters'] / t['ls']:.2f}")  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"device {args.device}, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    bench(12, 128, args)  # MultiDigits, the embedded default
    bench(36, 256, args)  # Multi-MNIST, the seed's setting
    for M in (5, 10, 20):
        bench_mlp(M, args)


if __name__ == "__main__":
    main()
