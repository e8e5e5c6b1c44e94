"""Figures of `compare` and `ablate` (matplotlib, Agg backend: no display needed), written atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from smolmamba.experiments.ablation_tables import SettingSummary  # noqa: E402
from smolmamba.experiments.records import Comparison, SweepPoint  # noqa: E402
from smolmamba.io import atomic_path  # noqa: E402


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)


def accuracy_vs_energy(comparison: Comparison, path: Path) -> None:
    """One point per model and data set, error bars over seeds (strict energy convention)."""
    datasets = sorted(comparison.datasets())
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for r in (r for r in comparison.rows if r.dataset == dataset):
            ax.errorbar(r.energy_uj, r.top1_mean, yerr=r.top1_std, fmt="o", capsize=4, label=r.model)
        ax.set_xlabel("energy per image, µJ (strict)")
        ax.set_ylabel("top-1 accuracy, %")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, path)


def keep_ratio_sweep(points: list[SweepPoint], path: Path) -> None:
    """Accuracy and energy against the mean keep ratio (zero-shot on the trained SmolMamba)."""
    datasets = sorted({p.dataset for p in points})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        pts = sorted((p for p in points if p.dataset == dataset), key=lambda p: p.mean_keep)
        keep = [p.mean_keep for p in pts]
        ax.plot(keep, [p.top1 for p in pts], "o-", color="tab:blue")
        ax.set_xlabel("mean keep ratio over stages")
        ax.set_ylabel("top-1 accuracy, %", color="tab:blue")
        twin = ax.twinx()
        twin.plot(keep, [p.energy_uj for p in pts], "s--", color="tab:red")
        twin.set_ylabel("energy per image, µJ (strict)", color="tab:red")
        ax.set_title(f"{dataset}: keep-ratio sweep")
        ax.grid(alpha=0.3)
    _save(fig, path)


@torch.no_grad()
def pruning_masks(model, x: torch.Tensor) -> dict:
    """Kept-token masks per stage for a few inputs: {"images": [B, H, W], "masks": [S, B, g, g]}."""
    model.eval()
    _, trace = model.forward_features_with_info(x)
    grid = model.cfg.input.img_size // model.cfg.input.patch_size
    masks = []
    for positions in trace.positions:
        mask = torch.zeros(x.shape[0], grid * grid)
        mask.scatter_(1, positions.clamp_max(grid * grid - 1), 1.0)
        masks.append(mask.view(-1, grid, grid))
    images = x.sum(dim=(1, 2)) if model.cfg.input.events else x.mean(dim=1)  # events: all counts
    return {"images": images, "masks": torch.stack(masks) if masks else torch.zeros(0)}


def save_masks(data: dict, path: Path) -> None:
    """Rows: samples; columns: input, then the tokens kept at each stage (pruned ones greyed)."""
    images, masks = data["images"].float(), data["masks"].float()
    stages, n = (masks.shape[0], images.shape[0]) if masks.numel() else (0, images.shape[0])
    fig, axes = plt.subplots(n, stages + 1, figsize=(1.6 * (stages + 1), 1.6 * n), squeeze=False)
    for i in range(n):
        axes[i][0].imshow(images[i].numpy(), cmap="gray")
        for s in range(stages):
            size = images.shape[-1]
            mask = torch.nn.functional.interpolate(masks[s, i][None, None], size=(size, size), mode="nearest")[0, 0]
            axes[i][s + 1].imshow((images[i] * (0.25 + 0.75 * mask)).numpy(), cmap="gray")
            axes[i][s + 1].imshow(mask.numpy(), cmap="Reds", alpha=0.25 * (1 - mask.mean().item()) + 0.1)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_title("input", fontsize=8)
    for s in range(stages):
        axes[0][s + 1].set_title(f"stage {s + 1}", fontsize=8)
    _save(fig, path)


def ablation_bars(rows: list[SettingSummary], title: str, path: Path) -> None:
    """Top-1 of each setting of one ablation study, one bar each."""
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(rows)), 3.6))
    ax.bar(range(len(rows)), [r.top1 for r in rows], color="tab:blue")
    ax.set_xticks(range(len(rows)), [r.setting for r in rows], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("top-1 %")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)
