"""Command line: parse arguments, build a config, hand over to the library. No math here."""

from __future__ import annotations

import argparse
import sys

from smolmamba import __version__
from smolmamba.cli_experiments import add_experiment_commands
from smolmamba.costs import E_AC_PJ, E_MAC_PJ


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
    from smolmamba.models.export import export_model, export_timm_folder

    if (args.model is None) == (args.checkpoint is None):
        raise ValueError("give exactly one of --model NAME or --checkpoint PATH")
    if args.checkpoint is not None:
        from smolmamba.train.checkpoint import load_model

        model, manifest = load_model(args.checkpoint)
        name = manifest["model"]
    else:
        from smolmamba.models import create_model

        model, name = create_model(args.model), args.model
    if args.format == "timm":
        print(f"wrote {export_timm_folder(model, name, args.out)} (timm.create_model('local-dir:{args.out}', "
              f"pretrained=True))")
        return 0
    print(f"wrote {export_model(model, args.out, args.format)}")
    return 0


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
    p.add_argument("--e-mac", type=float, default=E_MAC_PJ, help=f"pJ per MAC (45 nm: {E_MAC_PJ})")
    p.add_argument("--e-ac", type=float, default=E_AC_PJ, help=f"pJ per AC (45 nm: {E_AC_PJ})")
    p.add_argument("--seed", type=int, default=0, help="seed of a --model's random initialisation")
    p.add_argument("--json", default=None, help="write the report(s) here")
    p.set_defaults(func=_cmd_energy)

    p = sub.add_parser("export", help="export a model for inference: torch.export (.pt2), ONNX, or timm's "
                                      "local folder (config.json + model.safetensors)")
    p.add_argument("--model", default=None, help="registered model name (random init)")
    p.add_argument("--checkpoint", default=None, help="a run's checkpoint folder instead of --model")
    p.add_argument("--format", default=None, choices=("pt2", "onnx", "timm"),
                   help="default: from --out's suffix; timm: a folder for timm.create_model('local-dir:<out>')")
    p.add_argument("--out", required=True, help="file to write, e.g. model.pt2 or model.onnx (timm: a folder)")
    p.set_defaults(func=_cmd_export)

    add_experiment_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
