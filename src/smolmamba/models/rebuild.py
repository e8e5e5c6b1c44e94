"""A trained model's weights in a model built again with some options changed (keep ratios, pruner,
pruning mode, alignment): the zero-shot variants of compare's sweep and of ablate, and fine-tuning
from a checkpoint. Only pruner parameters may differ: a model with pruning off has none, SST-TP has
its alpha and beta, the other scores none.
"""

from __future__ import annotations

from torch import nn

from smolmamba.models.registry import create_model


def load_weights(model: nn.Module, state_dict: dict, source: str) -> nn.Module:
    """Load state_dict into model in place, allowing only pruner keys to be missing or extra; -> model.
    ValueError naming `source` and the first mismatched keys otherwise."""
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    wrong = [k for k in missing + unexpected if ".pruner." not in k]
    if wrong:
        raise ValueError(f"{source} does not fit the model: mismatched keys {wrong[:8]}; only pruner "
                         f"parameters may differ")
    return model


def rebuild(trained: nn.Module, name: str, **overrides) -> nn.Module:
    """create_model(name) with every option of trained.cfg, then `overrides`, carrying trained's weights."""
    model = create_model(name, **{**trained.cfg.fields(), **overrides})
    return load_weights(model, trained.state_dict(), f"the weights of {name} as trained")
