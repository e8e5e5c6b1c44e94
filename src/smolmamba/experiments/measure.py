"""Measure one model on real batches: accuracy, energy (both conventions), firing rate, tokens, speed."""

from __future__ import annotations

import time

import torch
from torch import nn

from smolmamba.energy import EnergyMeter, EnergyReport
from smolmamba.experiments.records import Measurement
from smolmamba.models import count_parameters, tokens_per_stage

THROUGHPUT_BATCH = 64  # images per timed forward (the first test batch is cut to this)
TOKEN_PROBE_BATCH = 2  # images in the forward that reads the kept-token counts


@torch.no_grad()
def accuracy(model: nn.Module, batches) -> float:
    """Top-1 accuracy in percent over (x, y) batches, eval mode."""
    model.eval()
    correct = total = 0
    for x, y in batches:
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    return 100.0 * correct / max(total, 1)


@torch.no_grad()
def throughput(model: nn.Module, x: torch.Tensor, repeats: int = 3) -> float:
    """Inference images per second on x (eval mode, after one warm-up pass), best of `repeats`."""
    model.eval()
    model(x)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        best = min(best, time.perf_counter() - start)
    return x.shape[0] / best


def kept_tokens(model: nn.Module, x: torch.Tensor) -> tuple[int, ...]:
    """[N, (after DSTSP,) k_1, ...] from a forward of x's first TOKEN_PROBE_BATCH images: every pruner keeps
    a count fixed by its ratio and N, never by the input, so two images give the test set's figure."""
    return tuple(tokens_per_stage(model, x[:TOKEN_PROBE_BATCH]))


@torch.no_grad()
def metered_accuracy(model: nn.Module, batches) -> tuple[float, EnergyReport, EnergyReport]:
    """Top-1 % over (x, y) batches with the energy meter on; -> (top1, strict report, paper report)."""
    model.eval()
    with EnergyMeter(model) as meter:
        acc = accuracy(model, batches)
    return acc, meter.report("strict"), meter.report("paper")


@torch.no_grad()
def measure(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> Measurement:
    """Everything `compare` reports for one trained model, measured on `batches` in one pass."""
    acc, strict, paper = metered_accuracy(model, batches)
    return Measurement(
        top1=acc, params=count_parameters(model), mean_firing_rate=strict.totals["mean_firing_rate"],
        tokens_per_stage=kept_tokens(model, batches[0][0]), macs=strict.totals["macs"],
        acs=strict.totals["acs"], energy_uj=strict.totals["energy_uj"], energy_uj_paper=paper.totals["energy_uj"],
        img_per_s=throughput(model, batches[0][0][:THROUGHPUT_BATCH]), test_images=sum(len(y) for _, y in batches),
        macs_paper=paper.totals["macs"], acs_paper=paper.totals["acs"], energy_by_kind=strict.totals["by_kind"])
