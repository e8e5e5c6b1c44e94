"""A benchmark case (model, batch, mode, device, dtype) and the step closure it runs.

Shared by the timing and memory workers, the op count and the profile, so all see the same model and input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch

from smolmamba.bench.measure import inference_step, train_step
from smolmamba.models import create_model, model_cfg
from smolmamba.models.summary import example_input
from smolmamba.precision import Levers, set_levers

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MODES = ("inference", "train")


@dataclass(frozen=True)
class Variant:
    """A training-step speed lever setting: model overrides, fused AdamW, and the mixed-precision path (levers
    under bf16 autocast; None: float32 without autocast)."""

    overrides: dict = field(default_factory=dict)
    fused_adamw: bool = True
    levers: Levers | None = None

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """bf16 for the mixed-precision variants, None (float32, no autocast) for the others."""
        return None if self.levers is None else torch.bfloat16


_TORCH_KERNELS = {"lif_kernel": "torch", "scan_impl": "torch"}
# Speed levers, each alone against the baseline (plain-torch kernels, for-loop AdamW) and against the float32
# default (all of them); the bf16 path (precision.py) with each of its levers switched alone. A model takes
# the overrides that apply to it (scan_impl only where the mixer is the SSM).
VARIANTS = {
    "default": Variant(),
    "baseline": Variant(_TORCH_KERNELS, fused_adamw=False),
    "numba_lif": Variant({"scan_impl": "torch"}, fused_adamw=False),
    "numba_scan": Variant({"lif_kernel": "torch"}, fused_adamw=False),
    "fused_adamw": Variant(_TORCH_KERNELS),
    "bf16": Variant(levers=Levers()),
    "bf16_projections_only": Variant(levers=Levers(spikes=False, norms_float32=True, convs="float32")),
    "bf16_spikes_float32": Variant(levers=replace(Levers(), spikes=False)),
    "bf16_norms_float32": Variant(levers=replace(Levers(), norms_float32=True)),
    "bf16_convs_float32": Variant(levers=replace(Levers(), convs="float32")),
    "bf16_convs_split": Variant(levers=replace(Levers(), convs="split")),
}


@dataclass(frozen=True)
class Case:
    model: str
    batch: int
    mode: str = "inference"  # inference | train
    device: str = "cpu"
    dtype: str = "float32"  # autocast dtype on CUDA; CPU runs float32 (the bf16 variants: bf16 autocast)
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
    return {k: v for k, v in VARIANTS[case.variant].overrides.items() if k in applies}


def build_inputs(case: Case):
    """-> (model, x, y): a seeded model on case.device, a seeded random input of its kind and labels."""
    device = torch.device(case.device)
    if case.variant not in VARIANTS:
        raise ValueError(f"bench variant must be one of {sorted(VARIANTS)}, got {case.variant!r}")
    torch.manual_seed(case.seed)
    variant = VARIANTS[case.variant]
    model = create_model(case.model, **variant_overrides(case)).to(device)
    if variant.levers is not None:
        set_levers(model, variant.levers)
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
    variant = VARIANTS[case.variant]
    dtype = variant.autocast_dtype or DTYPES[case.dtype]
    if case.mode == "inference":
        return inference_step(model, x, dtype)
    return train_step(model, x, y, dtype, fused=variant.fused_adamw)
