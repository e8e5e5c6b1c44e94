"""A benchmark case (model, batch, mode, device, dtype) and the step closure it runs.

Shared by the timing and memory workers, the op count and the profile, so all see the same model and input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from smolmamba.bench.measure import inference_step, train_step
from smolmamba.models import create_model, model_cfg
from smolmamba.models.summary import example_input

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MODES = ("inference", "train")
# Speed levers, each alone against the baseline (plain-torch kernels, for-loop AdamW), and all together
# (the default): model overrides and whether AdamW runs fused. A model takes the overrides that apply to
# it (scan_impl only where the mixer is the SSM).
VARIANTS = {
    "default": ({}, True),
    "baseline": ({"lif_kernel": "torch", "scan_impl": "torch"}, False),
    "numba_lif": ({"scan_impl": "torch"}, False),
    "numba_scan": ({"lif_kernel": "torch"}, False),
    "fused_adamw": ({"lif_kernel": "torch", "scan_impl": "torch"}, True),
}


@dataclass(frozen=True)
class Case:
    model: str
    batch: int
    mode: str = "inference"  # inference | train
    device: str = "cpu"
    dtype: str = "float32"  # autocast dtype on CUDA; CPU runs float32
    seed: int = 0
    variant: str = "default"  # a key of VARIANTS

    @property
    def key(self) -> str:
        """The case's name in a timing group: the model, with its variant unless default."""
        return self.model if self.variant == "default" else f"{self.model}+{self.variant}"

    def as_dict(self) -> dict:
        return asdict(self)


def variant_overrides(case: Case) -> dict:
    """The model overrides of case.variant that apply to case.model (its options, ModelCfg.fields)."""
    applies = model_cfg(case.model).fields()
    return {k: v for k, v in VARIANTS[case.variant][0].items() if k in applies}


def build_inputs(case: Case):
    """-> (model, x, y): a seeded model on case.device, a seeded random input of its kind and labels."""
    device = torch.device(case.device)
    if case.variant not in VARIANTS:
        raise ValueError(f"bench variant must be one of {sorted(VARIANTS)}, got {case.variant!r}")
    torch.manual_seed(case.seed)
    model = create_model(case.model, **variant_overrides(case)).to(device)
    model.check_finite = False  # the input is generated here; don't time a NaN scan
    gen = torch.Generator().manual_seed(case.seed)
    x = example_input(model.cfg, case.batch, gen).to(device)
    y = torch.randint(model.cfg.num_classes, (case.batch,), generator=gen).to(device)
    return model, x, y


def build_step(case: Case):
    """-> the step closure of the case (one inference forward, or one training step)."""
    if case.mode not in MODES:
        raise ValueError(f"bench mode must be one of {MODES}, got {case.mode!r}")
    if case.dtype not in DTYPES:
        raise ValueError(f"bench dtype must be one of {sorted(DTYPES)}, got {case.dtype!r}")
    model, x, y = build_inputs(case)
    if case.mode == "inference":
        return inference_step(model, x, DTYPES[case.dtype])
    return train_step(model, x, y, DTYPES[case.dtype], fused=VARIANTS[case.variant][1])
