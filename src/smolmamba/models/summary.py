"""Human-readable model summaries: the `smolmamba models` table and the smoke run."""

from __future__ import annotations

import time

import torch

from smolmamba.models.network import count_parameters, tokens_per_stage
from smolmamba.ops.backend import resolved
from smolmamba.models.registry import create_model, list_models, model_cfg


def example_input(cfg, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random input of the right kind: event spikes [B, T, 2, H, W] or images [B, C, H, W] in [0, 1]."""
    inp = cfg.input
    if inp.events:
        shape = (batch_size, inp.time_steps, 2, inp.img_size, inp.img_size)
        return (torch.rand(shape, generator=generator) < 0.1).float()
    return torch.rand(batch_size, inp.in_chans, inp.img_size, inp.img_size, generator=generator)


def models_table(filter: str = "") -> str:
    """One row per registered model: input, T, D, depth, mixer, pruner, keep ratios, parameters."""
    header = f"{'model':30s} {'input':>14s} {'T':>3s} {'D':>4s} {'depth':>5s} {'mixer':>6s} {'pruner':>13s} " \
             f"{'align':>5s} {'keep ratios':>22s} {'params':>10s}"
    rows = [header, "-" * len(header)]
    for name in list_models(filter):
        cfg = model_cfg(name)
        inp, pruning = cfg.input, cfg.pruning
        kind = f"{'ev' if inp.events else 'img'} {inp.in_chans}x{inp.img_size}"
        params = count_parameters(create_model(name))
        ratios = ",".join(f"{r:g}" for r in pruning.keep_ratios) if pruning.prunes else "-"
        pruner = pruning.input_pruner if pruning.input_pruner else (pruning.pruner if pruning.prunes else "-")
        align = str(pruning.align) if pruning.prunes and cfg.mixer.kind == "ssm" else "-"
        rows.append(f"{name:30s} {kind:>14s} {inp.time_steps:>3d} {cfg.embed_dim:>4d} {cfg.depth:>5d} "
                    f"{cfg.mixer.kind:>6s} {str(pruner):>13s} {align:>5s} {ratios:>22s} {params / 1e6:>9.3f}M")
    return "\n".join(rows)


def smoke_run(name: str, batch_size: int = 4, seed: int = 0) -> str:
    """Build `name`, run one forward/backward on random input, report loss, grads and token counts."""
    torch.manual_seed(seed)
    model = create_model(name)
    cfg = model.cfg
    gen = torch.Generator().manual_seed(seed)
    x = example_input(cfg, batch_size, gen)
    target = torch.randint(cfg.num_classes, (batch_size,), generator=gen)
    start = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), target)
    loss.backward()
    elapsed = time.perf_counter() - start
    with_grad = sum(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.parameters())
    total = sum(1 for _ in model.parameters())
    model.eval()
    tokens = tokens_per_stage(model, x)
    kernels = ", ".join(sorted({f"{r.op} {r.requested} -> {r.backend} ({r.device} {r.dtype})" for r in resolved()}))
    return (f"{name}: {count_parameters(model) / 1e6:.3f}M parameters, input {tuple(x.shape)}\n"
            f"forward+backward {elapsed * 1e3:.0f} ms, loss {loss.item():.4f}, "
            f"{with_grad}/{total} parameter tensors got a non-zero gradient\n"
            f"tokens entering each pruning stage: {tokens}\n"
            f"kernels: {kernels}")
