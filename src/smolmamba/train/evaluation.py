"""Evaluate a saved checkpoint on a dataset: accuracy, tokens kept per stage, throughput.

`evaluate_checkpoint` returns a flat dict, so further measurements (firing rates, energy per image)
can add their own keys beside the accuracy ones.
"""

from __future__ import annotations

from smolmamba.models import count_parameters
from smolmamba.train import checkpoint as ckpt
from smolmamba.train.distributed import DistInfo, pick_device
from smolmamba.train.epoch import evaluate
from smolmamba.train.setup import eval_loader


def evaluate_checkpoint(path, dataset: str, data_root=None, split: str = "test", batch_size: int = 64,
                        max_batches: int | None = None, use_ema: bool = False, device: str = "auto",
                        amp: str = "none", workers: int = 0, cache_dir=None) -> dict:
    """Build the model from the checkpoint's manifest, load (EMA) weights, evaluate on `dataset`."""
    from smolmamba.data.model_input import dataset_for_model

    model, manifest = ckpt.load_model(path, ckpt.EMA_FILE if use_ema else ckpt.MODEL_FILE)
    data, _ = dataset_for_model(dataset, model.cfg, split, root=data_root, cache_dir=cache_dir, augment=False)
    dist = DistInfo(device=pick_device(device))
    model.to(dist.device)
    res = evaluate(model, eval_loader(data, batch_size, workers, dist), dist, amp, max_batches)
    return {"checkpoint": str(path), "model": manifest["model"], "weights": "ema" if use_ema else "model",
            "epoch": manifest.get("epoch"), "step": manifest.get("step"), "dataset": dataset, "split": split,
            "params": count_parameters(model), **res}


def format_result(res: dict) -> str:
    top5 = f"{res['top5']:.2f}%" if res["top5"] is not None else "n/a (< 5 classes)"
    return (f"{res['model']} ({res['weights']} weights after {res['epoch']} epochs, step {res['step']}) "
            f"on {res['dataset']}/{res['split']}, {res['images']} images\n"
            f"top-1 {res['top1']:.2f}%  top-5 {top5}  loss {res['loss']:.4f}\n"
            f"tokens entering each pruning stage: {res['tokens_per_stage']}\n"
            f"throughput {res['img_per_s']:.1f} img/s, {res['params'] / 1e6:.3f}M parameters")
