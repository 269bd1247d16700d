"""The ``stein-mo`` command line: ``stein-mo demo mixture`` and ``stein-mo demo zdt3``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .metrics import hypervolume
from .problems import JOINT_MODE, three_mixtures
from .problems.zdt import ZDT, objective_targets
from .samplers import MOOSVGD, MTSGD


def select(samplers: dict, which: str) -> dict:
    """The samplers whose name starts with ``which`` ("mt-sgd", "moo-svgd"), or all of them."""
    return samplers if which == "all" else {k: v for k, v in samplers.items() if k.lower().startswith(which)}


def demo_mixture(args: argparse.Namespace) -> dict:
    """Seed 000, Figure 3: MOO-SVGD and both MT-SGD variants on the three mixtures, from the same particles."""
    device = torch.device(args.device)
    targets = three_mixtures()
    gen = torch.Generator().manual_seed(args.seed)
    x0 = (5 * torch.randn(args.particles, 2, generator=gen, dtype=torch.float64)).to(device)
    samplers = {
        "MOO-SVGD": MOOSVGD(targets),
        "MT-SGD (exact U)": MTSGD(targets, gramian="exact"),
        "MT-SGD (normalized)": MTSGD(targets, gramian="normalized"),
    }
    samplers = select(samplers, args.sampler)
    keep = sorted({0, *(s for s in (250, 500, 1000) if s < args.steps), args.steps})
    centre = torch.tensor(JOINT_MODE, dtype=x0.dtype, device=device)
    snapshots, metrics = {}, {}
    for name, sampler in samplers.items():
        snaps = {0: x0.cpu()}

        def record(state, info, snaps=snaps):
            if state.step in keep:
                snaps[state.step] = state.particles.detach().cpu().clone()

        result = sampler.run(x0, args.steps, lr=args.lr, progress=args.progress, callback=record)
        share = ((result.particles - centre).norm(dim=1) < 1.5).double().mean().item()
        snapshots[name] = snaps
        metrics[name] = {
            "share_within_1.5_of_joint_mode": share,
            "final_weights": result.history["weights"][-1].tolist(),
        }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .plotting import plot_snapshots

    fig = plot_snapshots(targets, snapshots, extent=7.0)
    fig.savefig(out / "mixture.png", dpi=110)
    meta = {
        "particles": args.particles,
        "steps": args.steps,
        "lr": args.lr,
        "seed": args.seed,
        "joint_mode": JOINT_MODE,
        "metrics": metrics,
    }
    (out / "mixture.json").write_text(json.dumps(meta, indent=2))
    print(f"{'method':<22} share of particles within 1.5 of {JOINT_MODE}")
    for name, m in metrics.items():
        print(f"{name:<22} {m['share_within_1.5_of_joint_mode']:.2f}")
    print(f"wrote {out / 'mixture.png'} and {out / 'mixture.json'}")
    return meta


ZDT3_REF = (0.99022638, 6.54635266)  # the reference point used for ZDT3 in the MOO-SVGD literature


def segment_shares(F: torch.Tensor, zdt: ZDT, tol: float = 0.05) -> list[float]:
    """Share of the points F (M, 2) within ``tol`` of each of ZDT3's five front segments (by their x1 intervals)."""
    front = zdt.front(20001)
    intervals = zdt.front_intervals(20001)
    seg = torch.zeros(len(front), dtype=torch.long)
    for k, (a, b) in enumerate(intervals):
        seg[(front[:, 0] >= a - 1e-9) & (front[:, 0] <= b + 1e-9)] = k
    d = torch.cdist(F.double(), front)
    nearest, idx = d.min(1)
    on = nearest < tol
    return [float((on & (seg[idx] == k)).double().mean()) for k in range(len(intervals))]


def demo_zdt3(args: argparse.Namespace) -> dict:
    """Seed 000, Figure 4: MOO-SVGD and MT-SGD on ZDT3 (targets exp(-f_k)), in objective space over the front."""
    device = torch.device(args.device)
    zdt = ZDT(3)
    targets = objective_targets(zdt, 2, temperature=args.temperature)
    gen = torch.Generator().manual_seed(args.seed)
    x0 = torch.rand(args.particles, zdt.n, generator=gen, dtype=torch.float64).to(device)
    opts = {"bounds": zdt.bounds, "kernel_on": args.kernel_on}
    samplers = select({"MOO-SVGD": MOOSVGD(targets, **opts), "MT-SGD": MTSGD(targets, **opts)}, args.sampler)
    F = {"initial": zdt(x0).cpu()}
    metrics = {}
    for name, sampler in samplers.items():
        result = sampler.run(x0, args.steps, lr=args.lr, progress=args.progress)
        F[name] = zdt(result.particles).cpu()
        metrics[name] = {
            "hypervolume": hypervolume(F[name], ZDT3_REF),
            "share_on_each_front_segment": segment_shares(F[name], zdt),
        }
    front = zdt.front(20001)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .plotting import pyplot

    fig, axes = pyplot().subplots(1, len(F), figsize=(4.7 * len(F), 4.2), sharex=True, sharey=True)
    for ax, (name, pts) in zip(axes, F.items(), strict=True):
        ax.plot(front[:, 0], front[:, 1], ".", color="tab:red", ms=1)
        ax.plot(pts[:, 0], pts[:, 1], "o", color="tab:blue", ms=4, mfc="none")
        hv = f", HV {metrics[name]['hypervolume']:.3f}" if name in metrics else ""
        ax.set(title=f"{name}{hv}", xlabel="f1", ylabel="f2")
    fig.tight_layout()
    fig.savefig(out / "zdt3.png", dpi=110)
    meta = {
        "particles": args.particles,
        "steps": args.steps,
        "lr": args.lr,
        "seed": args.seed,
        "temperature": args.temperature,
        "kernel_on": args.kernel_on,
        "reference_point": ZDT3_REF,
        "true_front_hypervolume": hypervolume(front, ZDT3_REF),
        "front_intervals": zdt.front_intervals(20001),
        "metrics": metrics,
    }
    (out / "zdt3.json").write_text(json.dumps(meta, indent=2))
    print(f"HV w.r.t. {ZDT3_REF} (true front: {meta['true_front_hypervolume']:.3f})")
    for name, m in metrics.items():
        shares = " ".join(f"{v:.2f}" for v in m["share_on_each_front_segment"])
        print(f"{name:<10} HV {m['hypervolume']:.3f}   share on the five front segments: {shares}")
    print(f"wrote {out / 'zdt3.png'} and {out / 'zdt3.json'}")
    return meta


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stein-mo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a toy problem and write figures and metrics")
    demo.add_argument(
        "problem", choices=["mixture", "zdt3"], help="mixture: seed 000's three Gaussian mixtures; zdt3: Figure 4"
    )
    demo.add_argument("--sampler", choices=["all", "mt-sgd", "moo-svgd"], default="all", help="which samplers to run")
    demo.add_argument("--particles", type=int, default=50)
    demo.add_argument("--steps", type=int, default=None, help="default: 2000 (mixture), 10000 (zdt3)")
    demo.add_argument("--lr", type=float, default=None, help="Adam learning rate; default 3e-2 (mixture), 5e-4 (zdt3)")
    demo.add_argument("--temperature", type=float, default=1.0, help="zdt3: targets exp(-f_k / T)")
    demo.add_argument(
        "--kernel-on",
        choices=["log_densities", "particles"],
        default="log_densities",
        help="zdt3: kernel on objective values (the MOO-SVGD reference's choice, default) or on x",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default="cpu")
    demo.add_argument("--out", default="stein_mo_demo", help="output folder")
    demo.add_argument("--no-progress", dest="progress", action="store_false")

    mtl = sub.add_parser("mtl", help="train multi-task ensembles and compare them per task (accuracy, ECE, Brier, NLL)")
    mtl.add_argument("--dataset", choices=["multi-digits", "multi-mnist", "sarcos"], default="multi-digits",
                     help="multi-digits is embedded (no files); the others read --data-dir")  # fmt: skip
    mtl.add_argument("--data-dir", default=None, help="folder with the MNIST files or sarcos_inv_test.mat")
    mtl.add_argument("--method", default="mt-sgd,moo-svgd,ls,mgda",
                     help="comma-separated: mt-sgd, moo-svgd, ls, mgda, pareto-mtl, deep-ensemble, a weighting "
                          "(upgrad, nash, cagrad, ...), a loss balancer (uw, imtll, gls, dwa, stch) "
                          "or gradnorm")  # fmt: skip
    mtl.add_argument("--particles", type=int, default=5, help="ensemble members M")
    mtl.add_argument("--epochs", type=int, default=None, help="default: 15 (multi-digits), 10 (others)")
    mtl.add_argument("--batch-size", type=int, default=None, help="default: 128 (multi-digits), 256 (others)")
    mtl.add_argument("--lr", type=float, default=None, help="default: 3e-3 (multi-digits), 1e-3 (others)")
    mtl.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    mtl.add_argument("--schedule", choices=["none", "cosine", "step"], default="none")
    mtl.add_argument("--warmup", type=int, default=0, help="epochs of linear-scalarisation warm-up")
    mtl.add_argument("--temperature", type=float, default=1.0, help="mt-sgd / moo-svgd: posterior temperature T")
    mtl.add_argument("--kernel-on", choices=["outputs", "parameters"], default="outputs",
                     help="mt-sgd / moo-svgd: kernel on outputs (as the reference) or on parameters")  # fmt: skip
    mtl.add_argument("--seed", type=int, default=0)
    mtl.add_argument("--device", default="cpu")
    mtl.add_argument("--out", default="stein_mo_mtl", help="output folder: results.json, PNGs, checkpoints")
    mtl.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    mtl.add_argument("--no-progress", dest="progress", action="store_false")
    return parser


def run_mtl(args: argparse.Namespace) -> dict:
    from .ensembles.experiment import format_table, load_dataset, run_experiment

    digits = args.dataset == "multi-digits"
    dataset = load_dataset(args.dataset, args.data_dir, args.seed)
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    stein = {"temperature": args.temperature, "kernel_on": args.kernel_on}
    results = run_experiment(
        dataset, methods, particles=args.particles, epochs=args.epochs or (15 if digits else 10), out=args.out,
        resume=args.resume, seed=args.seed, device=args.device, progress=args.progress,
        method_options={"mt-sgd": stein, "moo-svgd": stein}, batch_size=args.batch_size or (128 if digits else 256),
        lr=args.lr or (3e-3 if digits else 1e-3), optimizer=args.optimizer,
        schedule=None if args.schedule == "none" else args.schedule, warmup_epochs=args.warmup,
    )  # fmt: skip
    print(f"{dataset.name}: test metrics of each ensemble (M = {args.particles}) selected on the validation split")
    print(format_table(results))
    figures = "reliability_<method>.png, training_curves.png" if "ce" in dataset.losses else "training_curves.png"
    print(f"wrote {args.out}/results.json, {figures}")
    return results


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        zdt3 = args.problem == "zdt3"
        args.steps = args.steps if args.steps is not None else (10_000 if zdt3 else 2000)
        args.lr = args.lr if args.lr is not None else (5e-4 if zdt3 else 3e-2)
        if args.particles < 2 or args.steps < 1 or not args.lr > 0 or not args.temperature > 0:
            print("stein-mo: need --particles >= 2, --steps >= 1, --lr > 0 and --temperature > 0", file=sys.stderr)
            return 2
        (demo_zdt3 if zdt3 else demo_mixture)(args)
    elif args.command == "mtl":
        bad_lr = args.lr is not None and args.lr <= 0
        if args.particles < 2 or (args.epochs is not None and args.epochs < 1) or bad_lr:
            print("stein-mo mtl: need --particles >= 2, --epochs >= 1 and --lr > 0", file=sys.stderr)
            return 2
        try:
            run_mtl(args)
        except (ValueError, FileNotFoundError) as e:
            print(f"stein-mo mtl: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
