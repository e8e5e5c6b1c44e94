"""pytest plugin that runs timm's own tests/test_models.py against smolmamba's models only.

Loaded with `-p timm_suite_plugin` by tests/models/test_timm_suite.py. It wraps timm.list_models and
timm.list_pretrained before test_models.py imports them: timm's filters still apply, to our names
only (SMOLMAMBA_TIMM_MODELS: a comma list of patterns, default "*tiny*", one tiny model of every
mixer, pruner and input kind; "*" for every registered model). Two placements differ from timm's
name patterns, each for a stated reason:
- our models are token models, like vit_*: forward_features gives tokens [T, B, n, D], not a
  feature map, so they join timm's NON_STD_FILTERS group (test_model_default_cfgs_non_std) and
  leave the spatial one (test_model_default_cfgs, test_model_forward_features);
- they implement forward_intermediates, so they join timm's FEAT_INTER_FILTERS modules.
Items of other models (tests with fixed timm names) are deselected; excluded tests are skipped
with their reason (EXCLUDED).
"""

from __future__ import annotations

import fnmatch
import os

import pytest
import timm

import smolmamba  # noqa: F401  (files the models with timm)
from smolmamba.models import list_models as smolmamba_models

PATTERNS = os.environ.get("SMOLMAMBA_TIMM_MODELS", "*tiny*").split(",")
NAMES = [n for n in smolmamba_models() if any(fnmatch.fnmatch(n, p) for p in PATTERNS)]
MODULE = "timm_models"  # timm's module name of our entrypoints
NON_STD_MARK = "vit_*"  # one of timm's NON_STD_FILTERS: marks that list
SCRIPT = ("TorchScript is not supported: creation under timm.set_scriptable(True) raises, naming torch.export "
          "(tests/models/test_timm.py checks the error)")
EXCLUDED = {
    "test_model_inference": "needs the Hugging Face hub (timm/<name> test tensors and weights); smolmamba "
                            "publishes no weights and CI has no network",
    "test_model_forward_torchscript": SCRIPT,
    "test_model_forward_fx_torchscript": SCRIPT,
    "test_prune_intermediate_layers_contract": "timm's CI leaves it out too (no marker, slow); its 4-D check "
                                               "reads forward_features as a feature map, ours gives tokens "
                                               "[T, B, n, D] (tests/models/test_intermediates.py checks the "
                                               "contract: stop_early and pruned taps, every parameter used)",
}

_list_models, _list_pretrained = timm.list_models, timm.list_pretrained


def as_list(patterns) -> list[str]:
    return [patterns] if isinstance(patterns, str) else list(patterns)


def list_models(filter="", module="", pretrained=False, exclude_filters="", name_matches_cfg=False,
                include_tags=None):
    """timm.list_models restricted to NAMES, with the two placements of the module docstring."""
    patterns, excluded = as_list(filter), as_list(exclude_filters)
    if NON_STD_MARK in excluded:  # the spatial group
        return []
    if NON_STD_MARK in patterns:  # the token group
        patterns = ["*"]
    if module:
        module = as_list(module) + [MODULE]
    names = _list_models(patterns if patterns != [""] else "", module=module, pretrained=pretrained,
                         exclude_filters=excluded, name_matches_cfg=name_matches_cfg, include_tags=include_tags)
    return [n for n in names if n in NAMES]


def list_pretrained(filter="", exclude_filters=""):
    """The hub inference test's list: our names, so that EXCLUDED can skip them with the reason."""
    return list(NAMES)


timm.list_models, timm.list_pretrained = list_models, list_pretrained


def pytest_collection_modifyitems(config, items):
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        (kept if params.get("model_name") in NAMES else dropped).append(item)
        reason = EXCLUDED.get(item.originalname)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept
