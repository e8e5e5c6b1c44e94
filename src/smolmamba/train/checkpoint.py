"""Checkpoints: one folder each (run/last, run/best), written atomically, verified before loading.

Layout of a checkpoint folder:
  model.safetensors   model weights (state_dict: parameters and buffers)
  ema.safetensors     EMA weights, when EMA is on
  trainer_state.pt    optimizer, scaler, epoch/step counters, RNG states, best metric, config
                      (torch.save; loaded with torch.load(weights_only=True) only)
  manifest.json       sha256 of every file above, model name and ModelCfg (nested, ModelCfg.to_json)

Atomic write: everything goes into `<name>.tmp-<pid>/` beside the target and is fsynced; then the
old `<name>` is renamed to `<name>.old`, the temp folder to `<name>`, and `<name>.old` is removed.
A crash leaves either `<name>` or, between the two renames, only `<name>.old`: `resolve` falls back
to it. Loading checks every hash in the manifest before reading any file.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from smolmamba.io import fsync_path

MANIFEST = "manifest.json"
MODEL_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
STATE_FILE = "trainer_state.pt"
FORMAT = 1
MAX_LISTED = 12


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tensors_of(module: nn.Module) -> dict[str, torch.Tensor]:
    """state_dict as contiguous CPU tensors that own their memory (safetensors refuses shared ones)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(dest: Path) -> None:
    """Delete `<name>.tmp-<pid>/` folders left by killed saves (their pid no longer runs here)."""
    if not dest.parent.is_dir():
        return
    for stale in dest.parent.glob(f"{dest.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def save_checkpoint(dest: str | Path, model: nn.Module, model_name: str, trainer_state: dict,
                    ema: nn.Module | None = None) -> Path:
    """Write model (+ ema) weights, trainer_state and manifest into folder `dest`, atomically."""
    dest = Path(dest)
    tmp = dest.with_name(f"{dest.name}.tmp-{os.getpid()}")
    old = dest.with_name(f"{dest.name}.old")
    if tmp.exists():
        shutil.rmtree(tmp)
    remove_stale_temps(dest)
    tmp.mkdir(parents=True)
    save_file(tensors_of(model), tmp / MODEL_FILE)
    if ema is not None:
        save_file(tensors_of(ema), tmp / EMA_FILE)
    torch.save(trainer_state, tmp / STATE_FILE)
    files = sorted(p.name for p in tmp.iterdir())
    manifest = {"format": FORMAT, "model": model_name, "model_cfg": model.cfg.to_json(),
                "epoch": trainer_state.get("epoch"), "step": trainer_state.get("step"),
                "files": {name: sha256(tmp / name) for name in files}}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    for name in files + [MANIFEST]:
        fsync_path(tmp / name)
    fsync_path(tmp)
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    fsync_path(dest.parent)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def check_output_dir(path: str | Path, need_bytes: int = 0) -> Path:
    """Fail at start, not at the first save: `path` must be creatable and writable and its disk must
    have `need_bytes` free. Creates the folder; -> its resolved path. ValueError naming the fix."""
    path = Path(path).expanduser().resolve()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"output folder {path} cannot be created: {existing} is a file, not a folder; "
                         f"choose another output=...")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"output folder {path} is not writable ({err.strerror or err}); choose another "
                         f"output=... or fix its permissions") from None
    free = shutil.disk_usage(path).free
    if free < need_bytes:
        raise ValueError(f"output folder {path} has {free / 2**20:.1f} MiB free, the run needs about "
                         f"{need_bytes / 2**20:.1f} MiB for its checkpoints; free space or choose another "
                         f"output=...")
    return path


def checkpoint_bytes(model: nn.Module, ema: bool = False) -> int:
    """Rough size of one checkpoint: weights (x2 with EMA) plus two AdamW moments."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return weights * (3 + int(ema))


def resolve(path: str | Path) -> Path:
    """The checkpoint folder to read: `path`, or `path.old` left by a save interrupted mid-rename."""
    path = Path(path)
    if (path / MANIFEST).is_file():
        return path
    old = path.with_name(f"{path.name}.old")
    if not path.exists() and (old / MANIFEST).is_file():
        return old
    if (path / "last").is_dir() or (path / "best").is_dir():
        raise ValueError(f"{path} is a run folder; pass the checkpoint inside it: {path}/best or {path}/last")
    raise FileNotFoundError(f"no checkpoint at {path} (a checkpoint folder holds {MANIFEST})")


def read_manifest(path: str | Path) -> tuple[Path, dict]:
    """-> (resolved folder, manifest) after checking that every listed file matches its sha256."""
    path = resolve(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"checkpoint {path} has an unreadable {MANIFEST} ({type(err).__name__}: {err}); "
                         f"use another checkpoint (e.g. best/ or an earlier copy)") from None
    for name, expected in files.items():
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"checkpoint {path}: {MANIFEST} lists {name!r}, not a plain file name; "
                             f"refusing to read outside the checkpoint folder")
        file = path / name
        if not file.is_file():
            raise ValueError(f"checkpoint {path} is incomplete: file {name} listed in {MANIFEST} is missing")
        if sha256(file) != expected:
            raise ValueError(f"checkpoint {path} is corrupted or truncated: file {name} hash mismatch "
                             f"(sha256 differs from {MANIFEST}); use another checkpoint (e.g. best/ or an "
                             f"earlier copy) or retrain")
    return path, manifest


def check_state_dict(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """ValueError listing missing, unexpected and shape-mismatched keys, if any."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [f"{k}: checkpoint {tuple(tensors[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in sorted(set(expected) & set(tensors)) if tensors[k].shape != expected[k].shape]
    if not (missing or unexpected or shapes):
        return

    def listing(title, items):
        more = f" ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
        return f"\n  {title} ({len(items)}): {', '.join(items[:MAX_LISTED])}{more}" if items else ""

    raise ValueError(f"{source} does not fit this model (another architecture or ModelCfg?); build the "
                     f"model from the checkpoint's manifest (load_model) or pick the matching checkpoint:"
                     + listing("missing keys", missing) + listing("unexpected keys", unexpected)
                     + listing("shape mismatches", shapes))


def load_weights(path: str | Path, model: nn.Module, file: str = MODEL_FILE) -> dict:
    """Verify the checkpoint, then load `file` (model or ema weights) into model. -> manifest."""
    path, manifest = read_manifest(path)
    if file not in manifest["files"]:
        raise ValueError(f"checkpoint {path} has no {file} (files: {sorted(manifest['files'])})")
    tensors = load_file(path / file)
    check_state_dict(model, tensors, f"checkpoint {path}/{file}")
    model.load_state_dict(tensors)
    return manifest


def load_trainer_state(path: str | Path) -> dict:
    """Verify the checkpoint, then read trainer_state.pt with weights_only=True (no arbitrary code)."""
    path, _ = read_manifest(path)
    try:
        return torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"refusing to load {path / STATE_FILE}: it holds objects other than tensors, "
                         f"numbers, strings and containers, which could run code when unpickled "
                         f"(torch.load weights_only=True refused it: {str(err).splitlines()[0]}). "
                         f"Only load checkpoints you wrote yourself.") from None


RETIRED_CFG_FIELDS = {"extra": {}}  # ModelCfg fields removed since; older checkpoints hold their empty default


def saved_options(model_cfg: dict) -> dict:
    """A manifest's ModelCfg as create_model's flat options. Manifests hold it nested (ModelCfg.to_json);
    older ones flat, with every option of every mixer: the options of the mixers the model does not have
    (it ignored them) are dropped, and so are retired fields at their old default."""
    from smolmamba.models.config import FLAT_OPTIONS, MIXERS, ModelCfg

    if "input" in model_cfg:
        return ModelCfg.from_json(model_cfg).fields()
    kind = model_cfg.get("mixer", "ssm")

    def applies(name: str, value) -> bool:
        if name in RETIRED_CFG_FIELDS:
            return value != RETIRED_CFG_FIELDS[name]
        concern = FLAT_OPTIONS.get(name, ("",))[0]
        return concern not in MIXERS or concern == kind

    return {name: value for name, value in model_cfg.items() if applies(name, value)}


def load_model(path: str | Path, weights: str = MODEL_FILE) -> tuple[nn.Module, dict]:
    """Build the model named in the manifest with its saved ModelCfg and load its weights."""
    from smolmamba.models import create_model

    path, manifest = read_manifest(path)
    model = create_model(manifest["model"], **saved_options(manifest["model_cfg"]))
    load_weights(path, model, weights)
    return model, manifest
