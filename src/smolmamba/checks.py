"""Option checks shared by the configs: each ValueError names the option, what came and what it takes."""

from __future__ import annotations

import difflib
import math
import numbers


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_positive_int(value) -> bool:
    return is_int(value) and value >= 1


def is_finite(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_choice(name: str, value, choices: tuple) -> None:
    """ValueError unless value is one of choices, naming the closest."""
    if value not in choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{name}={value!r} is unknown; choose one of {choices}{hint}")


def check_sizes(cfg, *names: str) -> None:
    """The fields `names` of cfg are ints >= 1."""
    for name in names:
        if not is_positive_int(getattr(cfg, name)):
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)!r} (sizes are ints)")


def check_flags(cfg, *names: str) -> None:
    """The fields `names` of cfg are bools."""
    for name in names:
        if not isinstance(getattr(cfg, name), bool):
            raise ValueError(f"{name} must be true or false, got {getattr(cfg, name)!r}")


def check_positive(cfg, *names: str) -> None:
    """The fields `names` of cfg are finite numbers > 0."""
    for name in names:
        if not (is_finite(getattr(cfg, name)) and getattr(cfg, name) > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {getattr(cfg, name)!r}")


def check_numbers(cfg, *names: str) -> None:
    """The fields `names` of cfg are finite numbers."""
    for name in names:
        if not is_finite(getattr(cfg, name)):
            raise ValueError(f"{name} must be a finite number, got {getattr(cfg, name)!r}")
