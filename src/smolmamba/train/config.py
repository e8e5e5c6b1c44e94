"""TrainConfig: every training choice as one typed dataclass, read from YAML plus key=value flags.

`load_config("configs/x.yaml", ["lr=0.002", "model.keep_ratios=[0.7,0.5]"])`: values are parsed with
yaml.safe_load ("0.1" -> float, "[0.8,0.6]" -> list); `model.<field>=v` goes into model_overrides.
A value "???" in a YAML file marks an option that must be given on the command line.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from smolmamba.io import write_text_atomic
from smolmamba.precision import AMP_MODES

REQUIRED = "???"  # placeholder: this option must be given as key=value
DEVICES = ("auto", "cpu", "cuda")
ON_NONFINITE = ("stop", "skip")  # what a NaN/inf loss does, see train/guards.py


@dataclass
class TrainConfig:
    # model
    model: str = "smolmamba_tiny"  # registered name, see `smolmamba models`
    model_overrides: dict = field(default_factory=dict)  # ModelCfg fields, e.g. {"keep_ratios": [0.7, 0.5]}
    # data
    dataset: str = "digits"  # see smolmamba.data.list_datasets()
    data_root: str | None = None  # folder of the dataset; None for the embedded ones
    T: int | None = None  # time steps; None: the model's time_steps (also sets it when given)
    img_size: int | None = None  # None: the model's img_size (also sets it when given)
    augment: bool = True  # training transform of the dataset
    train_subset: int | None = None  # use only the first n training samples (tests, quick runs)
    eval_subset: int | None = None  # evaluate each epoch on the first n test samples only (tests, quick runs)
    val_fraction: float = 0.0  # > 0: hold out this fraction of each training class; epochs are evaluated on it
    val_seed: int = 0  # which samples are held out (independent of `seed`: every run shares the split)
    on_bad_file: str = "skip"  # skip | fail: unreadable event files
    cache_dir: str | None = None  # event caches; None: $SMOLMAMBA_CACHE or ~/.cache/smolmamba
    workers: int = 0  # DataLoader worker processes per rank
    # optimisation
    epochs: int = 30
    batch_size: int = 64  # per process and micro-batch; global = batch_size * world_size * accum_steps
    accum_steps: int = 1  # micro-batches per optimizer step
    lr: float = 2e-3  # peak AdamW learning rate (not scaled with the global batch)
    min_lr: float = 1e-5  # end of the cosine
    weight_decay: float = 0.05  # not applied to biases, norms and 1-d parameters
    warmup_epochs: float = 1.0  # linear warm-up, stepped per optimizer step
    label_smoothing: float = 0.0
    mixup: float = 0.0  # Mixup alpha; 0 = off
    cutmix: float = 0.0  # CutMix alpha; 0 = off
    clip_grad: float | None = None  # max global grad norm; None = off
    amp: str = "none"  # none | bf16 (CPU or CUDA) | fp16 (CUDA, with a GradScaler) | auto (precision.resolve_amp)
    ema: bool = False  # keep an exponential moving average of the weights (timm ModelEmaV3)
    ema_decay: float = 0.999
    max_steps: int | None = None  # stop after this many optimizer steps (the schedule ends there too)
    on_nonfinite: str = "stop"  # NaN/inf loss: stop (raise; last/ keeps the last good weights) | skip the step
    max_nonfinite_skips: int = 5  # on_nonfinite=skip: stop after this many consecutive skipped steps
    grad_checkpointing: bool = False  # recompute each block in backward: less memory, one more block forward
    # runtime
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0
    deterministic: bool = True  # torch.use_deterministic_algorithms(True, warn_only=True)
    sync_bn: bool = False  # SyncBatchNorm under DDP (CUDA only)
    # output
    output: str = "runs/default"  # run folder: config.yaml, metrics.csv, last/, best/
    init_from: str | None = None  # fine-tune: start from this checkpoint's weights (pruner weights may be new)
    resume: str | None = None  # checkpoint folder, or "auto" = <output>/last if it exists
    eval_every: int = 1  # epochs between evaluations (the last epoch is always evaluated)
    patience: int | None = None  # early stopping: stop after this many evaluations without a new best top-1
    patience_from: float = 0.0  # ...counting only evaluations after this fraction of the steps (0.5: cosine lr < half peak)
    save_every: int = 0  # also save last/ every this many optimizer steps; 0 = at epoch ends only
    log_every: int = 10  # optimizer steps between progress-bar updates
    tensorboard: bool = True  # also log to <output>/tb when tensorboard is installed

    def __post_init__(self):
        validate(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def validate(cfg: TrainConfig) -> None:
    """Raise ValueError naming the option and the fix."""
    missing = [k for k, v in cfg.to_dict().items() if v == REQUIRED]
    if missing:
        raise ValueError(f"option(s) {missing} must be given on the command line, e.g. "
                         f"`smolmamba train --config ... {missing[0]}=/path/to/data`")
    if cfg.amp not in AMP_MODES:
        raise ValueError(f"amp={cfg.amp!r}; choose one of {AMP_MODES}")
    if cfg.device not in DEVICES:
        raise ValueError(f"device={cfg.device!r}; choose one of {DEVICES}")
    if cfg.on_nonfinite not in ON_NONFINITE:
        raise ValueError(f"on_nonfinite={cfg.on_nonfinite!r}; choose one of {ON_NONFINITE}")
    for name in ("epochs", "batch_size", "accum_steps", "eval_every", "log_every", "max_nonfinite_skips"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if (cfg.mixup > 0 or cfg.cutmix > 0) and cfg.batch_size % 2:
        raise ValueError(f"Mixup/CutMix pair each sample with its mirror in the batch: batch_size must "
                         f"be even, got {cfg.batch_size}")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {cfg.val_fraction}")
    for name in ("train_subset", "eval_subset"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1 (or null for all samples), got {getattr(cfg, name)}")
    if cfg.eval_subset is not None and cfg.val_fraction:
        raise ValueError("eval_subset cuts the test split, but val_fraction > 0 evaluates on a validation split "
                         "carved from train_subset; give one of them")
    if not 0.0 <= cfg.patience_from < 1.0:
        raise ValueError(f"patience_from is a fraction of the training steps in [0, 1), got {cfg.patience_from}")
    if cfg.patience is not None:
        if cfg.patience < 1:
            raise ValueError(f"patience must be >= 1 (or None = no early stopping), got {cfg.patience}")
        if cfg.val_fraction == 0.0:
            raise ValueError("patience (early stopping) needs a validation split: set val_fraction, e.g. 0.15; "
                             "stopping on the test split would tune on it")
    if not isinstance(cfg.model_overrides, dict):
        raise ValueError(f"model_overrides must be a mapping, got {cfg.model_overrides!r}")


def parse_overrides(pairs: list[str]) -> dict:
    """["lr=0.1", "model.depth=2"] -> {"lr": 0.1, "model_overrides": {"depth": 2}}."""
    out: dict = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"override {pair!r} is not key=value, e.g. lr=0.001 or model.depth=2")
        value = yaml.safe_load(text) if text else None
        if key.startswith("model."):
            out.setdefault("model_overrides", {})[key[len("model."):]] = value
        else:
            out[key] = value
    return out


def check_keys(keys, where: str) -> None:
    """Unknown keys -> ValueError naming each, the closest valid key and the valid keys."""
    valid = field_names()
    unknown = [k for k in keys if k not in valid]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, valid, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"unknown option(s) in {where}: {', '.join(hints)}; valid options: {', '.join(valid)}")


def coerce(values: dict) -> dict:
    """Check each value against its field's type; YAML 1.1 reads "1e-3" as a string, so float fields
    accept numeric strings. A value of the wrong type is a ValueError naming the option."""
    types = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}
    out = {}
    for key, value in values.items():
        kind = types[key].split(" | ")
        if value is None and "None" in kind or value == REQUIRED:
            out[key] = value
            continue
        if kind[0] == "float" and isinstance(value, (int, str)) and not isinstance(value, bool):
            try:
                value = float(value)
            except ValueError:
                pass
        expected = {"float": float, "int": int, "bool": bool, "str": str, "dict": dict}[kind[0]]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f"option {key} must be {types[key]}, got {value!r}")
        out[key] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """YAML file (optional) + key=value overrides -> TrainConfig; unknown keys are errors."""
    data: dict = {}
    if path is not None:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping of options, got {type(data).__name__}")
        check_keys(data, str(path))
    flags = parse_overrides(list(overrides))
    check_keys(flags, "command-line overrides")
    model_overrides = {**(data.get("model_overrides") or {}), **flags.pop("model_overrides", {})}
    return TrainConfig(**coerce({**data, **flags, "model_overrides": model_overrides}))


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (reloadable with load_config)."""
    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
