"""Arguments and handlers of the experiment commands: compare, ablate, report, paired, remeasure and bench."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path


# CompareConfig fields with options of their own: --data-root DATASET=PATH, --lr-from DIR, --protocol, --resume DIR
COMPARE_OWN = ("data_roots", "picked_lrs", "lr_from", "protocol", "resume")


def _cmd_compare(args: argparse.Namespace) -> int:
    from smolmamba.config_flags import given_flags, given_options
    from smolmamba.experiments.compare import resume_config, run_compare
    from smolmamba.experiments.config import CompareConfig, protocol_config
    from smolmamba.experiments.protocol import lrs_picked_in

    if args.resume:
        given = given_flags(args, CompareConfig, COMPARE_OWN) + [
            flag for flag, value in (("--protocol", args.protocol), ("--lr-from", args.lr_from),
                                     ("--data-root", args.data_root)) if value]
        if given:
            raise ValueError(f"compare --resume continues with the options the folder was started with; "
                             f"drop {', '.join(given)}")
        run_compare(resume_config(Path(args.resume)))
        return 0
    if args.lrs and args.lr_from:
        raise ValueError("give --lr or --lr-from, not both")
    picked = lrs_picked_in(Path(args.lr_from)) if args.lr_from else None
    cfg = protocol_config(args.protocol or "quick", **given_options(args, CompareConfig, COMPARE_OWN),
                          data_roots=dict(pair.split("=", 1) for pair in args.data_root), picked_lrs=picked,
                          lr_from=args.lr_from and Path(args.lr_from).name)
    run_compare(cfg)
    return 0


def _cmd_ablate(args: argparse.Namespace) -> int:
    from smolmamba.config_flags import given_options
    from smolmamba.experiments.ablate import run_ablate
    from smolmamba.experiments.config import AblateConfig

    run_ablate(AblateConfig(**given_options(args, AblateConfig)))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from smolmamba.experiments.report import write_results_page

    reference = args.reference_out and Path(args.reference_out)
    print(f"wrote {write_results_page(args.compare_dirs, args.ablations, args.out, reference, args.note)}")
    if reference:
        print(f"wrote {reference}")
    return 0


def _cmd_paired(args: argparse.Namespace) -> int:
    from smolmamba.experiments.paired import paired_markdown

    text = paired_markdown(Path(args.base), Path(args.other), args.margin)
    if args.out:
        from smolmamba.io import write_text_atomic

        write_text_atomic(Path(args.out), text)
    print(text, end="")
    return 0


def _cmd_remeasure(args: argparse.Namespace) -> int:
    from smolmamba.experiments.remeasure import remeasure

    results = remeasure(Path(args.folder), args.reason)
    print(f"rewrote {args.folder}: {len(results.runs)} runs measured again ({results.remeasured})")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import time

    from smolmamba.bench.report import update_doc
    from smolmamba.bench.suite import BenchConfig, run_bench

    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda but torch sees no CUDA device; run on a GPU machine or use --device cpu")
    cfg = BenchConfig(quick=args.quick, device=args.device, threads=args.threads, rounds=args.rounds,
                      imagenet=not args.no_imagenet, train=not args.no_train, profile=not args.no_profile,
                      memory=not args.no_memory, levers_only=args.levers_only)
    out = Path(args.out or time.strftime("runs/bench-%Y%m%d-%H%M%S"))
    results = run_bench(cfg, out)
    markdown = (out / "bench.md").read_text()
    print(markdown)
    print(f"wrote {out / 'bench.json'} and {out / 'bench.md'}")
    if args.doc:
        update_doc(Path(args.doc), markdown, bench_command(args))
        print(f"updated {args.doc}")
    return 0 if results["rows"] or results.get("levers") else 1


def bench_command(args: argparse.Namespace) -> str:
    """The `smolmamba bench` command with the options it was parsed into (the doc records it)."""
    switches = ("quick", "levers_only", "no_imagenet", "no_train", "no_profile", "no_memory")
    words = ["smolmamba", "bench"] + [f"--{name.replace('_', '-')}" for name in switches if getattr(args, name)]
    for name in ("device", "threads", "rounds", "out", "doc"):
        if getattr(args, name) is not None:
            words += [f"--{name}", str(getattr(args, name))]
    return shlex.join(words)


def _cmd_diagnose(args: argparse.Namespace) -> int:
    import time

    from smolmamba.experiments.diagnose import run_diagnose

    out = run_diagnose(args.models, args.dataset, args.lr, args.epochs, tuple(args.probes),
                       args.out or time.strftime("results/diagnose-%Y%m%d-%H%M%S"), args.batch_size, args.seed)
    print((out / "diagnose.md").read_text())
    print(f"wrote {out / 'diagnose.json'} and {out / 'diagnose.md'}")
    return 0


def add_experiment_commands(sub: argparse._SubParsersAction) -> None:
    """Register compare, ablate, bench and report on the `smolmamba` subcommand parser."""
    from smolmamba.config_flags import add_config_flags
    from smolmamba.experiments.config import PROTOCOLS, AblateConfig, CompareConfig

    d = CompareConfig()
    p = sub.add_parser("compare", help="train SmolMamba and its peers side by side; tables, claims and plots")
    p.add_argument("--protocol", default=None, choices=sorted(PROTOCOLS),
                   help=f"budget preset (default {d.protocol}; the options below override it): quick = "
                        f"{d.seeds} seeds, <= {d.epochs} epochs, lr {d.lrs[0]:g}; full = "
                        + ", ".join(f"{k} {v}" for k, v in PROTOCOLS["full"].items()))
    add_config_flags(p, CompareConfig, skip=COMPARE_OWN)
    p.add_argument("--data-root", action="append", default=[], metavar="DATASET=PATH",
                   help="folder of a dataset on your disk, e.g. cifar10=/data/cifar (repeatable)")
    p.add_argument("--lr-from", default=None, metavar="RESULTS_DIR",
                   help="train each model at the lr it was measured at in an earlier compare folder "
                        "(no lr search; the folder's name is recorded)")
    p.add_argument("--resume", default=None, metavar="RESULTS_DIR",
                   help="continue a stopped compare in its folder with the options it was started with: "
                        "finished runs are reused, a cut run resumes from its last checkpoint, every model "
                        "is measured again")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("ablate", help="alignment, pruner, SST-TP weights, DSTSP and deep-pruning ablations")
    add_config_flags(p, AblateConfig)
    p.set_defaults(func=_cmd_ablate)

    p = sub.add_parser("diagnose", help="per-layer firing rates and gradient norms at init and in the first epoch")
    p.add_argument("--models", nargs="+", default=["smolmamba", "spiking_mamba", "spikformer"],
                   help="roles or registered model names")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--lr", type=float, default=d.lrs[0], help="peak lr of the schedule")
    p.add_argument("--epochs", type=int, default=PROTOCOLS["full"]["epochs"],
                   help="length of the run whose first epoch is probed (sets warm-up and cosine)")
    p.add_argument("--probes", type=int, nargs="+", default=[0, 1, 2, 4, 8, 16, 34],
                   help="training steps to probe (0 = init); those beyond the first epoch are dropped")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None,
                   help="folder for diagnose.json and diagnose.md (default results/diagnose-<time>)")
    p.set_defaults(func=_cmd_diagnose)

    p = sub.add_parser("bench", help="throughput, peak memory, training step time and profile; JSON + table")
    p.add_argument("--quick", action="store_true", help="tiny models, small batches (a smoke run)")
    p.add_argument("--levers-only", action="store_true",
                   help="only the tiny models' training-step levers table (numba kernels, fused AdamW)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (CUDA runs bfloat16 autocast)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (2 on the CI machine)")
    p.add_argument("--rounds", type=int, default=5, help="timed calls per case after one warm-up")
    p.add_argument("--no-imagenet", action="store_true", help="skip the 224x224 models")
    p.add_argument("--no-train", action="store_true", help="skip the training-step tables")
    p.add_argument("--no-profile", action="store_true", help="skip the torch.profiler breakdown")
    p.add_argument("--no-memory", action="store_true", help="skip the fresh-process peak-memory runs")
    p.add_argument("--out", default=None, help="folder for bench.json and bench.md (default runs/bench-<time>)")
    p.add_argument("--doc", default=None, help="also rewrite the generated part of this Markdown file, "
                   "e.g. docs/PERFORMANCE.md")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("remeasure", help="measure a compare folder's trained weights again with this version's "
                                         "counters; rewrites its tables and claims in place")
    p.add_argument("folder", help="a folder written by `smolmamba compare`, with its runs/")
    p.add_argument("--reason", required=True, help="recorded in results.json, e.g. 'scan count 5N+3 -> 5N+4'")
    p.set_defaults(func=_cmd_remeasure)

    p = sub.add_parser("paired", help="two compare folders of one protocol set against each other seed by seed "
                                      "(e.g. bf16 against float32 training)")
    p.add_argument("base", help="the compare folder to subtract (e.g. the float32 run)")
    p.add_argument("other", help="the compare folder set against it (e.g. `compare --lr-from BASE --amp bf16`)")
    p.add_argument("--margin", type=float, default=0.5, help="points OTHER may be worse by (default 0.5)")
    p.add_argument("--out", default=None, help="also write the table to this Markdown file")
    p.set_defaults(func=_cmd_paired)

    p = sub.add_parser("report", help="regenerate docs/RESULTS.md from compare folders (and ablate folders)")
    p.add_argument("compare_dirs", nargs="+", metavar="COMPARE_DIR",
                   help="compare results folders, e.g. one per data set; their tables are joined")
    p.add_argument("--ablations", nargs="+", default=[], help="ablate results folders (one per study group)")
    p.add_argument("--out", default="docs/RESULTS.md")
    p.add_argument("--reference-out", default=None, metavar="JSON",
                   help="also write the claims' verdicts and each model's top-1 for the quick `compare` to set "
                        "its own beside (the shipped one: src/smolmamba/experiments/full_protocol_reference.json)")
    p.add_argument("--note", default=None, help="a sentence printed under the title, e.g. which folders predate "
                                                "a model change")
    p.set_defaults(func=_cmd_report)
