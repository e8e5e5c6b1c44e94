"""Command-line options made from a config dataclass's fields, so a command cannot copy a field by hand and
drift from it. Each field `name` becomes `--name` (underscores as dashes) typed by its annotation, with the
help in its metadata; a bool that defaults to True becomes `--no-name`; a tuple takes one or more values.
Every option defaults to None ("not given"), so a preset or the dataclass default applies underneath."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import field

TYPES = {"int": int, "float": float, "str": str}


def option(default=None, help: str = "", **kwargs):
    """A dataclass field with its command-line help (and optionally `flag`, `aliases`, `choices`, `metavar`)."""
    factory = dict(default_factory=default) if callable(default) else dict(default=default)
    return field(**factory, metadata={"help": help, **kwargs})


def _flag(f: dataclasses.Field) -> str:
    if "flag" in f.metadata:
        return f.metadata["flag"]
    name = f.name.replace("_", "-")
    return f"--no-{name}" if f.type == "bool" and f.default is True else f"--{name}"


def add_config_flags(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """One option per field of `cls` (a dataclass with `from __future__ import annotations`), except `skip`."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        help_text = f.metadata.get("help", "") + ("" if default is None or f.type == "bool" else f" (default: {shown})")
        kwargs = dict(dest=f.name, default=None, help=help_text)
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        base = f.type.replace(" | None", "")
        if base != "bool" and ("choices" not in f.metadata or "metavar" in f.metadata):
            kwargs["metavar"] = f.metadata.get("metavar", _flag(f).lstrip("-").replace("-", "_").upper())
        if base == "bool":
            parser.add_argument(_flag(f), action="store_const", const=not default, **kwargs)
        elif base.startswith("tuple[") and base.endswith(", ...]"):
            parser.add_argument(_flag(f), *f.metadata.get("aliases", ()), nargs="+", type=TYPES[base[6:-6]],
                                **kwargs)
        elif base in TYPES:
            parser.add_argument(_flag(f), type=TYPES[base], **kwargs)
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: no command-line form for {f.type}; list it in skip")


def given_options(args: argparse.Namespace, cls, skip: tuple[str, ...] = ()) -> dict:
    """{field: value} of the options given on the command line (tuples as tuples)."""
    out = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, None) if f.name not in skip else None
        if value is not None:
            out[f.name] = tuple(value) if isinstance(value, list) else value
    return out


def given_flags(args: argparse.Namespace, cls, skip: tuple[str, ...] = ()) -> list[str]:
    """The command-line spelling of each given option (for error messages)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return [_flag(fields[name]) for name in given_options(args, cls, skip)]
