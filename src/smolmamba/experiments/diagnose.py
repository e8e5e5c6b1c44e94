"""`smolmamba diagnose`: per-layer firing rates and gradient norms at init and over the first epoch.

The first epoch follows compare's recipe: the same validation split carved out of the training data,
AdamW groups, warm-up and cosine schedule of an `epochs`-epoch run (protocol.train_one), so a probe
shows what a compare run went through. A probe is taken on a real training step, before its optimizer
update: the firing rate of every LIF (mean of its spike tensor [T, B, ...]) in that step's forward and
the L2 norm of every module's parameter gradients. Step 0 is the model at init.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from smolmamba.io import write_json_atomic, write_text_atomic
from smolmamba.neurons import LIF


@dataclass(frozen=True)
class Probe:
    """What one training step showed, before its update."""

    step: int
    loss: float
    firing: dict[str, float]  # LIF module name -> mean spike rate in this step's forward
    grad_norm: dict[str, float]  # module name -> L2 norm of its parameters' gradients


class FiringRecorder:
    """Forward hooks on every LIF of a model; `rates` holds the last forward's rates."""

    def __init__(self, model: nn.Module):
        self.rates: dict[str, float] = {}
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in model.named_modules()
                         if isinstance(m, LIF)]

    def _hook(self, name: str):
        def record(_module, _inputs, out):
            spikes = out[0] if isinstance(out, tuple) else out
            self.rates[name] = float(spikes.detach().float().mean())
        return record

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def module_grad_norms(model: nn.Module) -> dict[str, float]:
    """module name -> L2 norm over the gradients of the parameters it owns directly (None grads skipped)."""
    squares: dict[str, float] = {}
    for name, p in model.named_parameters():
        if p.grad is not None:
            owner = name.rsplit(".", 1)[0] if "." in name else name
            squares[owner] = squares.get(owner, 0.0) + float(p.grad.detach().float().pow(2).sum())
    return {k: math.sqrt(v) for k, v in squares.items()}


def group_of(module: str) -> str:
    """Coarse component of a module name: blocks.<i>.<mixer|mlp|...>, else its first part (patch_embed, head)."""
    parts = module.split(".")
    return ".".join(parts[:3]) if parts[0] == "blocks" and len(parts) >= 3 else parts[0]


def kind_of(module: str) -> str:
    """The same LIF in every block: blocks.<i>.mixer.y_lif -> mixer.y_lif; names outside blocks unchanged."""
    parts = module.split(".")
    return ".".join(parts[2:]) if parts[0] == "blocks" and len(parts) >= 3 else module


def grouped(values: dict[str, float], how: str, key=group_of) -> dict[str, float]:
    """Per component (or per `key` of a name): 'rms' of gradient norms (the group's total L2 norm),
    'mean' of firing rates."""
    buckets: dict[str, list[float]] = {}
    for name, v in values.items():
        buckets.setdefault(key(name), []).append(v)
    if how == "rms":
        return {g: math.sqrt(sum(v * v for v in vs)) for g, vs in buckets.items()}
    return {g: sum(vs) / len(vs) for g, vs in buckets.items()}


def first_epoch_probes(model_name: str, dataset: str, lr: float, epochs: int, probe_steps: tuple[int, ...],
                       batch_size: int = 32, seed: int = 0, val_fraction: float = 0.15) -> list[Probe]:
    """Train the first epoch of an `epochs`-epoch compare run (train_one_epoch, stopped after the last
    probe); -> one Probe per step in probe_steps."""
    from itertools import islice

    from smolmamba.train.config import TrainConfig
    from smolmamba.train.distributed import DistInfo
    from smolmamba.train.epoch import train_one_epoch
    from smolmamba.train.setup import build_model_and_data, make_optimizer, make_schedule, train_loader
    from smolmamba.train.state import RunState, seed_everything

    cfg = TrainConfig(model=model_name, dataset=dataset, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                      val_fraction=val_fraction, warmup_epochs=min(0.5, epochs / 4), augment=False,
                      tensorboard=False)
    seed_everything(seed)
    model, train_set, _ = build_model_and_data(cfg)
    info = DistInfo()
    optimizer, sched = make_optimizer(model, cfg), make_schedule(len(train_set), cfg, info)
    wanted = sorted(s for s in set(probe_steps) if 0 <= s < sched.steps_per_epoch)
    if not wanted:
        raise ValueError(f"no probe step inside the first epoch (0..{sched.steps_per_epoch - 1}): {probe_steps}")
    recorder, probes = FiringRecorder(model), []

    def probe(step: int, loss: float) -> None:  # the step's forward and gradients, before its update
        if step in wanted:
            probes.append(Probe(step, loss, dict(recorder.rates), module_grad_norms(model)))

    batches = list(islice(train_loader(train_set, cfg, info, epoch=0), wanted[-1] + 1))
    scaler = torch.amp.GradScaler(info.device.type, enabled=False)
    try:
        train_one_epoch(model, nn.CrossEntropyLoss(), optimizer, batches, cfg, info, RunState(), sched.total,
                        sched.warmup, scaler, before_update=probe)
    finally:
        recorder.close()
    return probes


def probes_markdown(model_name: str, probes: list[Probe]) -> list[str]:
    """Three tables per model, one column per probe: firing rate per component and per LIF (mean over the
    blocks: a component's mean hides a near-silent LIF in series with busy ones), gradient norm per component."""
    head = "| component | " + " | ".join(f"step {p.step}" for p in probes) + " |"
    rule = "|---|" + "---|" * len(probes)
    lines = [f"### {model_name}", "", "Training loss: " + ", ".join(f"{p.loss:.3f} (step {p.step})" for p in probes)
             + ".", "", "Mean firing rate of the LIFs in each component:", "", head, rule]
    rates = [grouped(p.firing, "mean") for p in probes]
    lines += [f"| {g} | " + " | ".join(f"{r.get(g, float('nan')):.3f}" for r in rates) + " |" for g in rates[0]]
    per_lif = [grouped(p.firing, "mean", key=kind_of) for p in probes]
    lines += ["", "Firing rate of each LIF, mean over the blocks:", "", head.replace("component", "LIF"), rule]
    lines += [f"| {k} | " + " | ".join(f"{r.get(k, float('nan')):.4f}" for r in per_lif) + " |" for k in per_lif[0]]
    norms = [grouped(p.grad_norm, "rms") for p in probes]
    lines += ["", "Gradient L2 norm of each component's parameters:", "", head, rule]
    lines += [f"| {g} | " + " | ".join(f"{n.get(g, float('nan')):.2e}" for n in norms) + " |" for g in norms[0]]
    return lines + [""]


def run_diagnose(models: list[str], dataset: str, lr: float, epochs: int, probe_steps: tuple[int, ...],
                 out: Path, batch_size: int = 32, seed: int = 0, log=print) -> Path:
    """Probe each model; write <out>/diagnose.json (per LIF, per module) and diagnose.md (per component)."""
    from smolmamba.experiments.protocol import model_name

    out = Path(out)
    results, lines = {}, [f"First epoch of a {epochs}-epoch compare run on {dataset}: lr {lr:g}, batch "
                          f"{batch_size}, seed {seed}; probes before the optimizer update of each step.", ""]
    for role in models:
        name = model_name(role, dataset)
        probes = first_epoch_probes(name, dataset, lr, epochs, probe_steps, batch_size, seed)
        results[name] = [asdict(p) for p in probes]
        lines += probes_markdown(name, probes)
        log(f"{name}: loss " + ", ".join(f"{p.loss:.3f}" for p in probes))
    config = {"models": list(models), "dataset": dataset, "lr": lr, "epochs": epochs, "batch_size": batch_size,
              "seed": seed, "probe_steps": list(probe_steps)}
    write_json_atomic(out / "diagnose.json", {"config": config, "probes": results})
    write_text_atomic(out / "diagnose.md", "\n".join(lines))
    return out
