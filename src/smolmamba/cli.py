"""Command line: parse arguments, build a config, hand over to the library. No math here."""

from __future__ import annotations

import argparse
import sys

from smolmamba import __version__


def _cmd_models(args: argparse.Namespace) -> int:
    from smolmamba.models.summary import models_table

    print(models_table(args.filter))
    return 0


def _cmd_smoke(args: argparse.Namespace) -> int:
    from smolmamba.models.summary import smoke_run

    print(smoke_run(args.model, batch_size=args.batch_size, seed=args.seed))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import shlex

    import yaml

    from smolmamba.train.config import load_config
    from smolmamba.train.guards import NonFiniteError
    from smolmamba.train.loop import main as train_main
    from smolmamba.train.signals import TrainingInterrupted

    overrides = list(args.overrides) + ([f"resume={args.resume}"] if args.resume else [])
    try:
        cfg = load_config(args.config, overrides)
    except yaml.YAMLError as err:
        raise ValueError(f"{args.config or 'an override'} is not valid YAML ({str(err).splitlines()[0]}); "
                         f"fix the file or the key=value flag") from None
    try:
        train_main(cfg)
    except TrainingInterrupted as stop:
        again = ["smolmamba", "train"] + (["--config", args.config] if args.config else []) + [
            o for o in args.overrides if not o.startswith("resume=")] + ["resume=auto"]
        print(f"interrupted: saved {stop.path}; resume with: {shlex.join(again)}", file=sys.stderr)
        return stop.exit_code
    except NonFiniteError as err:  # diverged: the message names the step, the checkpoint kept and fixes
        print(f"smolmamba train: error: {err}", file=sys.stderr)
        return 3
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from smolmamba.train.evaluation import evaluate_checkpoint, format_result

    res = evaluate_checkpoint(args.checkpoint, args.data, args.data_root, args.split, args.batch_size,
                              args.batches, args.ema, args.device, workers=args.workers)
    print(format_result(res))
    if args.json:
        from smolmamba.io import write_json_atomic

        write_json_atomic(args.json, res)
    return 0


def _cmd_energy(args: argparse.Namespace) -> int:
    from smolmamba.energy import measure_energy

    if (args.model is None) == (args.checkpoint is None):
        raise ValueError("give exactly one of --model NAME or --checkpoint PATH")
    report = measure_energy(args.model, data=args.data, root=args.data_root, batches=args.batches,
                            batch_size=args.batch_size, convention=args.convention,
                            e_mac_pj=args.e_mac, e_ac_pj=args.e_ac, checkpoint=args.checkpoint,
                            seed=args.seed)
    for rep in report:
        print(rep.table(), end="\n\n")
    if args.json:
        from smolmamba.io import write_json_atomic

        write_json_atomic(args.json, [r.as_dict() for r in report])
        print(f"wrote {args.json}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from smolmamba.models.export import export_model

    if (args.model is None) == (args.checkpoint is None):
        raise ValueError("give exactly one of --model NAME or --checkpoint PATH")
    if args.checkpoint is not None:
        from smolmamba.train.checkpoint import load_model

        model, _ = load_model(args.checkpoint)
    else:
        from smolmamba.models import create_model

        model = create_model(args.model)
    print(f"wrote {export_model(model, args.out, args.format)}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from smolmamba.experiments.compare import run_compare
    from smolmamba.experiments.config import protocol_config

    cfg = protocol_config(args.protocol, roles=args.models and tuple(args.models),
                          datasets=args.datasets and tuple(args.datasets),
                          data_roots=dict(pair.split("=", 1) for pair in args.data_root), epochs=args.epochs,
                          seeds=args.seeds, batch_size=args.batch_size, lrs=args.lr and tuple(args.lr),
                          val_fraction=args.val_fraction, patience=args.patience, augment=args.augment or None,
                          train_subset=args.train_subset, test_subset=args.test_subset, output=args.output,
                          sweep=not args.no_sweep, masks=not args.no_masks)
    run_compare(cfg)
    return 0


def _cmd_ablate(args: argparse.Namespace) -> int:
    from smolmamba.experiments.ablate import run_ablate
    from smolmamba.experiments.config import AblateConfig

    run_ablate(AblateConfig(dataset=args.dataset, epochs=args.epochs, finetune_epochs=args.finetune_epochs,
                            batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                            train_subset=args.train_subset, test_subset=args.test_subset,
                            output=args.output, studies=tuple(args.studies)))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from smolmamba.experiments.report import write_results_page

    print(f"wrote {write_results_page(args.compare_dir, args.ablations, args.out)}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

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
        update_doc(Path(args.doc), markdown, "smolmamba " + " ".join(args.argv))
        print(f"updated {args.doc}")
    return 0 if results["rows"] or results.get("levers") else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smolmamba",
        description="Vision SmolMamba: spiking state-space vision with spike-guided token pruning.",
    )
    parser.add_argument("--version", action="version", version=f"smolmamba {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("models", help="list registered models with their parameter counts")
    p.add_argument("filter", nargs="?", default="", help="substring of the model names to show")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("smoke", help="build a model, run one forward/backward on random input, print it")
    p.add_argument("--model", default="smolmamba_tiny")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_smoke)

    p = sub.add_parser("train", help="train a model: --config file.yaml plus key=value overrides")
    p.add_argument("--config", default=None, help="YAML of TrainConfig options (configs/*.yaml)")
    p.add_argument("--resume", default=None, help="checkpoint folder, or 'auto' for <output>/last")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="e.g. epochs=5 lr=1e-3 model.keep_ratios=[0.7,0.5] data_root=/data/cifar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint: top-1/top-5, tokens per stage, img/s")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder, e.g. runs/x/best")
    p.add_argument("--data", required=True, help="dataset name, e.g. digits or cifar10")
    p.add_argument("--data-root", default=None)
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--batches", type=int, default=None, help="evaluate only this many batches")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--ema", action="store_true", help="use the EMA weights of the checkpoint")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("energy", help="per-layer MACs, ACs, firing rates and energy per image")
    p.add_argument("--model", default=None, help="registered model name (random init, calibrated norms)")
    p.add_argument("--checkpoint", default=None, help="a run's checkpoint folder instead of --model")
    p.add_argument("--data", default=None, help="dataset name (default: the embedded one for the model)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--convention", choices=["strict", "paper", "both"], default="both")
    p.add_argument("--e-mac", type=float, default=4.6, help="pJ per MAC (45 nm: 4.6)")
    p.add_argument("--e-ac", type=float, default=0.9, help="pJ per AC (45 nm: 0.9)")
    p.add_argument("--seed", type=int, default=0, help="seed of a --model's random initialisation")
    p.add_argument("--json", default=None, help="write the report(s) here")
    p.set_defaults(func=_cmd_energy)

    p = sub.add_parser("export", help="export a model for inference: torch.export (.pt2) or ONNX")
    p.add_argument("--model", default=None, help="registered model name (random init)")
    p.add_argument("--checkpoint", default=None, help="a run's checkpoint folder instead of --model")
    p.add_argument("--format", default=None, choices=("pt2", "onnx"), help="default: from --out's suffix")
    p.add_argument("--out", required=True, help="file to write, e.g. model.pt2 or model.onnx")
    p.set_defaults(func=_cmd_export)

    from smolmamba.experiments.config import ALL_STUDIES, PROTOCOLS, ROLES, AblateConfig, CompareConfig

    d = CompareConfig()
    p = sub.add_parser("compare", help="train SmolMamba and its peers side by side; tables and plots")
    p.add_argument("--models", nargs="+", default=None,
                   help=f"roles ({', '.join(ROLES)}) or registered model names (default: all roles)")
    p.add_argument("--datasets", nargs="+", default=None,
                   help=f"default: {', '.join(d.datasets)} (quick), {', '.join(PROTOCOLS['full']['datasets'])} (full)")
    p.add_argument("--data-root", action="append", default=[], metavar="DATASET=PATH",
                   help="folder of a dataset on your disk, e.g. cifar10=/data/cifar (repeatable)")
    p.add_argument("--protocol", default=d.protocol, choices=sorted(PROTOCOLS),
                   help="budget preset (the options below override it): quick = "
                        f"{d.seeds} seeds, <= {d.epochs} epochs, lr {d.lrs[0]:g}; full = "
                        + ", ".join(f"{k} {v}" for k, v in PROTOCOLS["full"].items()))
    p.add_argument("--epochs", type=int, default=None, help="most epochs per run (early stopping may end sooner)")
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, nargs="+", default=None,
                   help="learning rate, or a grid: seed 0 picks the best on the validation split")
    p.add_argument("--val-fraction", type=float, default=None,
                   help=f"training data held out for lr choice and early stopping (default {d.val_fraction}; "
                        "0 = none: fixed epochs, last weights)")
    p.add_argument("--patience", type=int, default=None,
                   help=f"epochs without a new best validation top-1 before a run stops (default {d.patience}; 0 = never)")
    p.add_argument("--augment", action="store_true", help="train with each dataset's augmentation")
    p.add_argument("--train-subset", type=int, default=None, help="use the first n training samples")
    p.add_argument("--test-subset", type=int, default=None, help="measure on the first n test samples")
    p.add_argument("--output", default=None, help=f"results/<timestamp>/ is created inside (default {d.output})")
    p.add_argument("--no-sweep", action="store_true", help="skip the keep-ratio sweep")
    p.add_argument("--no-masks", action="store_true", help="skip the pruning-mask figure")
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
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--test-subset", type=int, default=None)
    p.add_argument("--output", default=a.output)
    p.set_defaults(func=_cmd_ablate)

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

    p = sub.add_parser("report", help="regenerate docs/RESULTS.md from a compare (and ablate) folder")
    p.add_argument("compare_dir")
    p.add_argument("--ablations", default=None, help="an ablate results folder")
    p.add_argument("--out", default="docs/RESULTS.md")
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 0
    from smolmamba.runtime import tune_cpu_allocator

    tune_cpu_allocator()
    try:
        return args.func(args)
    except (ValueError, OSError) as err:  # user errors (and files we cannot read or write): no traceback
        print(f"smolmamba {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"smolmamba {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
