"""Arguments and handlers of the experiment commands: compare, ablate, report and bench."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path


# compare's options that set up a run (all but --resume); --resume takes them from the folder instead
RUN_OPTIONS = ("protocol", "models", "datasets", "data_root", "epochs", "seeds", "batch_size", "lr", "lr_from",
               "val_fraction", "patience", "patience_from", "augment", "train_subset", "test_subset", "output",
               "workers", "no_sweep", "no_masks")


def _cmd_compare(args: argparse.Namespace) -> int:
    from smolmamba.experiments.compare import resume_config, run_compare
    from smolmamba.experiments.config import protocol_config
    from smolmamba.experiments.protocol import lrs_picked_in

    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in RUN_OPTIONS if getattr(args, k) not in (None, False, [])]
        if given:
            raise ValueError(f"compare --resume continues with the options the folder was started with; "
                             f"drop {', '.join(given)}")
        run_compare(resume_config(Path(args.resume)))
        return 0
    if args.lr and args.lr_from:
        raise ValueError("give --lr or --lr-from, not both")
    picked = lrs_picked_in(Path(args.lr_from)) if args.lr_from else None
    cfg = protocol_config(args.protocol or "quick", roles=args.models and tuple(args.models),
                          datasets=args.datasets and tuple(args.datasets),
                          data_roots=dict(pair.split("=", 1) for pair in args.data_root), epochs=args.epochs,
                          seeds=args.seeds, batch_size=args.batch_size, lrs=args.lr and tuple(args.lr),
                          picked_lrs=picked, lr_from=args.lr_from and Path(args.lr_from).name,
                          val_fraction=args.val_fraction, patience=args.patience,
                          patience_from=args.patience_from, augment=args.augment or None,
                          train_subset=args.train_subset, test_subset=args.test_subset, output=args.output,
                          workers=args.workers, sweep=not args.no_sweep, masks=not args.no_masks)
    run_compare(cfg)
    return 0


def _cmd_ablate(args: argparse.Namespace) -> int:
    from smolmamba.experiments.ablate import run_ablate
    from smolmamba.experiments.config import AblateConfig

    run_ablate(AblateConfig(dataset=args.dataset, epochs=args.epochs, finetune_epochs=args.finetune_epochs,
                            batch_size=args.batch_size, lr=args.lr, seed=args.seed, seeds=args.seeds,
                            train_subset=args.train_subset, test_subset=args.test_subset,
                            output=args.output, studies=tuple(args.studies)))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from smolmamba.experiments.report import write_results_page

    reference = args.reference_out and Path(args.reference_out)
    print(f"wrote {write_results_page(args.compare_dirs, args.ablations, args.out, reference, args.note)}")
    if reference:
        print(f"wrote {reference}")
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
    from smolmamba.experiments.config import ALL_STUDIES, PROTOCOLS, ROLES, AblateConfig, CompareConfig

    d = CompareConfig()
    p = sub.add_parser("compare", help="train SmolMamba and its peers side by side; tables and plots")
    p.add_argument("--models", nargs="+", default=None,
                   help=f"roles ({', '.join(ROLES)}) or registered model names (default: all roles)")
    p.add_argument("--datasets", nargs="+", default=None,
                   help=f"default: {', '.join(d.datasets)} (quick), {', '.join(PROTOCOLS['full']['datasets'])} (full)")
    p.add_argument("--data-root", action="append", default=[], metavar="DATASET=PATH",
                   help="folder of a dataset on your disk, e.g. cifar10=/data/cifar (repeatable)")
    p.add_argument("--protocol", default=None, choices=sorted(PROTOCOLS),
                   help=f"budget preset (default {d.protocol}; the options below override it): quick = "
                        f"{d.seeds} seeds, <= {d.epochs} epochs, lr {d.lrs[0]:g}; full = "
                        + ", ".join(f"{k} {v}" for k, v in PROTOCOLS["full"].items()))
    p.add_argument("--epochs", type=int, default=None, help="most epochs per run (early stopping may end sooner)")
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, nargs="+", default=None,
                   help="learning rate, or a grid: seed 0 picks the best on the validation split")
    p.add_argument("--lr-from", default=None, metavar="RESULTS_DIR",
                   help="train each model at the lr it was measured at in an earlier compare folder "
                        "(no lr search; the folder's name is recorded)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help=f"training data held out for lr choice and early stopping (default {d.val_fraction}; "
                        "0 = none: fixed epochs, last weights)")
    p.add_argument("--patience", type=int, default=None,
                   help=f"epochs without a new best validation top-1 before a run stops (default {d.patience}; 0 = never)")
    p.add_argument("--patience-from", type=float, default=None,
                   help=f"patience counts only epochs after this fraction of the lr schedule "
                        f"(default {d.patience_from}: the noisy high-lr first half cannot stop a run)")
    p.add_argument("--augment", action="store_true", help="train with each dataset's augmentation")
    p.add_argument("--train-subset", type=int, default=None, help="use the first n training samples")
    p.add_argument("--test-subset", type=int, default=None, help="measure on the first n test samples")
    p.add_argument("--output", default=None, help=f"results/<timestamp>/ is created inside (default {d.output})")
    p.add_argument("--workers", type=int, default=None,
                   help="training processes of one thread each (default: the preset's; 1 = in this process)")
    p.add_argument("--no-sweep", action="store_true", help="skip the keep-ratio sweep")
    p.add_argument("--no-masks", action="store_true", help="skip the pruning-mask figure")
    p.add_argument("--resume", default=None, metavar="RESULTS_DIR",
                   help="continue a stopped compare in its folder with the options it was started with: "
                        "finished runs are reused, a cut run resumes from its last checkpoint, every model "
                        "is measured again")
    p.set_defaults(func=_cmd_compare)

    a = AblateConfig()
    p = sub.add_parser("ablate", help="alignment, pruner, SST-TP weights, DSTSP and deep-pruning ablations")
    p.add_argument("--dataset", default=a.dataset)
    p.add_argument("--studies", "--only", nargs="+", default=list(a.studies), choices=list(ALL_STUDIES),
                   help="which ablations (default: all but the from-scratch 'block' and 'state' studies)")
    p.add_argument("--epochs", type=int, default=a.epochs)
    p.add_argument("--finetune-epochs", type=int, default=a.finetune_epochs)
    p.add_argument("--batch-size", type=int, default=a.batch_size)
    p.add_argument("--lr", type=float, default=a.lr)
    p.add_argument("--seed", type=int, default=a.seed)
    p.add_argument("--seeds", type=int, default=a.seeds,
                   help="block and state studies: train each variant with this many seeds (from --seed)")
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--test-subset", type=int, default=None)
    p.add_argument("--output", default=a.output)
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
