"""Export a model for inference: torch.export (an ExportedProgram, saved as .pt2) or ONNX; or as
timm's local folder (config.json + model.safetensors) for timm.create_model("local-dir:<folder>").

Both trace the eval-mode model on an example input, with the batch dimension dynamic. While tracing,
the LIF neurons run their functional reference loop (`lif_ref`, bitwise equal to the fast `lif`,
whose out= writes into preallocated buffers would make export's functionalisation ~10x slower), the
scan runs its buffer-free form (ops/scan_torch.py) and the input NaN check is skipped (a branch
on data). The pruners' token selection traces as it is (layers/pruning.py). Run the exported
program in inference: `torch.export.load(path).module()(x)`; onnxruntime for the .onnx file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from pathlib import Path

import torch
from torch import Tensor, nn

from smolmamba.neurons import LIF

FORMATS = ("pt2", "onnx")
TIMM_WEIGHTS, TIMM_CONFIG = "model.safetensors", "config.json"  # timm's local-dir folder layout
MAX_BATCH = 4096  # upper bound of the exported dynamic batch dimension


@contextlib.contextmanager
def traceable(model: nn.Module):
    """model in eval mode with every LIF on impl="reference"; mode and impls restored afterwards."""
    lifs = [m for m in model.modules() if isinstance(m, LIF)]
    impls, training = [m.impl for m in lifs], model.training
    for m in lifs:
        m.impl = "reference"
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        for m, impl in zip(lifs, impls):
            m.impl = impl
        model.train(training)


def example_batch(model: nn.Module, batch_size: int = 2) -> Tensor:
    """A random input of the model's kind and size, on its device and in its dtype."""
    from smolmamba.models.summary import example_input

    weight = next(model.parameters())
    return example_input(model.cfg, batch_size).to(weight.device, weight.dtype)


def dynamic_batch() -> tuple[dict]:
    """dynamic_shapes for torch.export: dim 0 of the one input is free."""
    return ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)


def export_program(model: nn.Module, x: Tensor | None = None) -> torch.export.ExportedProgram:
    """torch.export of model(x) -> logits, batch dimension dynamic (x: an example input, default random)."""
    x = example_batch(model) if x is None else x
    with traceable(model):
        return torch.export.export(model, (x,), dynamic_shapes=dynamic_batch())


def require_onnx() -> None:
    """ValueError naming the install command when torch.onnx's exporter packages are missing."""
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ValueError(f"ONNX export needs {' and '.join(missing)}: pip install onnx onnxscript")


def save_onnx(program: torch.export.ExportedProgram, path: str | Path) -> Path:
    """ONNX file of an export_program (torch.onnx.export, dynamo): input "x", output "logits"."""
    require_onnx()
    path = Path(path)
    with torch.no_grad():
        torch.onnx.export(program, f=str(path), dynamo=True, input_names=["x"], output_names=["logits"],
                          verbose=False)
    return path


def export_model(model: nn.Module, path: str | Path, fmt: str | None = None, x: Tensor | None = None) -> Path:
    """Write export_program(model, x) to path as fmt ("pt2": torch.export.save; "onnx": save_onnx;
    None: from the suffix, .onnx or .pt2)."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt!r} is unknown; choose one of {FORMATS} (--format, or a file "
                         f"ending in .pt2 / .onnx)")
    if fmt == "onnx":
        require_onnx()  # before the minutes of tracing
    path.parent.mkdir(parents=True, exist_ok=True)
    program = export_program(model, x)
    if fmt == "onnx":
        return save_onnx(program, path)
    torch.export.save(program, str(path))
    return path


def export_timm_folder(model: nn.Module, name: str, folder: str | Path) -> Path:
    """Write timm's local folder: config.json (architecture, pretrained_cfg, model_args = the flat
    ModelCfg options that differ from registered model `name`'s) and model.safetensors. Load it with
    timm.create_model(f"local-dir:{folder}", pretrained=True) (timm loads weights only when asked)."""
    from safetensors.torch import save_file

    from smolmamba.models.pretrained import pretrained_cfg, timm_fields
    from smolmamba.models.registry import model_cfg

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = model_cfg(name).fields()
    args = {k: v for k, v in model.cfg.fields().items() if k not in base or v != base[k]}
    config = {"architecture": name, "num_classes": model.cfg.num_classes, "num_features": model.num_features,
              "pretrained_cfg": timm_fields(pretrained_cfg(model.cfg)), "model_args": args}
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(folder / TIMM_WEIGHTS))
    (folder / TIMM_CONFIG).write_text(json.dumps(config, indent=2))
    return folder
