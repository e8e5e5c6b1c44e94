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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"smolmamba {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
