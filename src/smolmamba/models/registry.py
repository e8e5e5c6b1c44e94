"""Write-once model registry (timm-style): a name files a function that returns a ModelCfg.

Names only: the registry imports no variant module. The variants (smolmamba.py, peers.py) register
when smolmamba.models is imported, which Python does before any of its submodules, this one included.
"""

from __future__ import annotations

import difflib
from typing import Callable

from smolmamba.models.config import ModelCfg

_REGISTRY: dict[str, Callable[[], ModelCfg]] = {}


def register_model(fn: Callable[[], ModelCfg]) -> Callable[[], ModelCfg]:
    """Decorator: file `fn` under its own name; a duplicate name is an error."""
    name = fn.__name__
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = fn
    return fn


def list_models(filter: str = "") -> list[str]:
    """Registered names containing `filter`, sorted."""
    return sorted(n for n in _REGISTRY if filter in n)


def model_cfg(name: str, **overrides) -> ModelCfg:
    """The config of a registered model with overrides applied (unknown keys are errors)."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; closest: {close}" if close else ""
        raise ValueError(f"unknown model {name!r}{hint}. `smolmamba models` lists them all")
    return _REGISTRY[name]().replace(**overrides)


def create_model(name: str, **overrides):
    """Build a registered model: create_model("smolmamba_tiny", num_classes=10); keywords are flat options
    (ModelCfg.replace)."""
    from smolmamba.models.network import SpikingVisionNet

    return SpikingVisionNet(model_cfg(name, **overrides))
