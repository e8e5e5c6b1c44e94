"""Initialisation study of the SSM block's spiking stages, judged on the validation split only.

Each candidate init (ModelCfg overrides) trains with compare's recipe for --epochs epochs (no early stop,
so every run has the same budget) at --seeds seeds; the run records the validation top-1 after every
epoch, the firing rate of each LIF kind at init and after training, and the energy per image in both
conventions, all on the validation images. The test split is never read.

    python scripts/init_study.py --dataset digits --out docs/results/init-study-digits
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from smolmamba.data.model_input import dataset_for_model, fit_batch
from smolmamba.data.split import carve_validation
from smolmamba.energy import EnergyMeter
from smolmamba.experiments.config import CompareConfig
from smolmamba.experiments.diagnose import FiringRecorder, grouped, kind_of
from smolmamba.experiments.protocol import model_name, train_one
from smolmamba.io import write_json_atomic
from smolmamba.models import create_model

CANDIDATES = {  # "as built": the model before this study (gate_bias 0.0); the default is now gate 1.0
    "as built": dict(gate_bias=0.0),
    "gate 0.5": dict(gate_bias=0.5),
    "gate 1.0": dict(gate_bias=1.0),
    "gate 1.5": dict(gate_bias=1.5),
    "gate 1.0, scan out 0.5": dict(gate_bias=1.0, scan_out_bias=0.5),
}


def validation_batches(model_cfg, dataset: str, fraction: float, batch_size: int = 256) -> list:
    """The compare recipe's validation images (no augmentation) as (x, y) batches fitted to the model."""
    train, _ = dataset_for_model(dataset, model_cfg, "train", classes=False, channels=False)
    _, val = carve_validation(train, train, fraction)
    return [(fit_batch(x.float(), model_cfg), torch.as_tensor(y))
            for x, y in DataLoader(val, batch_size=batch_size, shuffle=False)]


@torch.no_grad()
def firing_by_lif(model, batches, training: bool) -> dict[str, float]:
    """LIF kind (mixer.z_lif, ...) -> mean firing rate over the blocks on the first batch; training=True
    normalises with batch statistics, as a model at init is run in its first training step."""
    model.train(training)
    recorder = FiringRecorder(model)
    try:
        model(batches[0][0])
    finally:
        recorder.close()
    return grouped(recorder.rates, "mean", key=kind_of)


@torch.no_grad()
def energy(model, batches) -> dict[str, float]:
    """Energy per image (µJ) in both conventions and the strict AC count, on the validation batches."""
    model.eval()
    with EnergyMeter(model) as meter:
        for x, _ in batches:
            model(x)
    strict, paper = meter.report("strict"), meter.report("paper")
    return {"strict_uj": strict.totals["energy_uj"], "paper_uj": paper.totals["energy_uj"],
            "acs": strict.totals["acs"], "macs": strict.totals["macs"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--role", default="smolmamba")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--only", nargs="*", help="candidate names (default: all)")
    parser.add_argument("--out", type=Path, required=True, help="where init_study.json goes")
    parser.add_argument("--runs", type=Path, default=Path("runs/init-study"), help="checkpoints of the runs")
    args = parser.parse_args()

    cfg = CompareConfig(datasets=(args.dataset,), epochs=args.epochs, seeds=args.seeds, lrs=(args.lr,),
                        patience=0)
    name = model_name(args.role, args.dataset)
    path = args.out / "init_study.json"
    done = json.loads(path.read_text())["runs"] if path.is_file() else []
    for label in args.only or CANDIDATES:
        overrides = CANDIDATES[label]
        batches = validation_batches(create_model(name, **overrides).cfg, args.dataset, cfg.val_fraction)
        for seed in range(args.seeds):
            if any(r["candidate"] == label and r["seed"] == seed and r["model"] == name for r in done):
                continue
            torch.manual_seed(seed)
            at_init = firing_by_lif(create_model(name, **overrides), batches, training=True)
            run = train_one(args.role, args.dataset, seed, cfg, args.runs / args.dataset / name / label.replace(" ", "")
                            .replace(",", "_") / f"seed{seed}", lr=args.lr, **overrides)
            done.append({"candidate": label, "overrides": overrides, "model": name, "dataset": args.dataset,
                         "seed": seed, "lr": args.lr, "val_curve": run.val_curve,
                         "best_val_top1": run.best_val_top1, "train_s": run.train_s,
                         "firing_init": at_init, "firing_trained": firing_by_lif(run.model, batches, training=False),
                         "energy_trained": energy(run.model, batches)})
            write_json_atomic(path, {"epochs": args.epochs, "lr": args.lr, "runs": done})
            print(f"{name} {label:24s} seed {seed}: val " + " ".join(f"{v:.1f}" for v in run.val_curve)
                  + f" ({run.train_s:.0f} s)", flush=True)
    print("\n".join(markdown_table(done, name)))


def markdown_table(runs: list[dict], name: str) -> list[str]:
    """Per candidate: validation top-1 after epochs 1, 3, 5 (mean ± sd over seeds), firing rates of the
    mixer's LIFs at init and trained, energy per image (strict, paper) of the trained models."""
    def stat(values):
        return f"{statistics.fmean(values):.1f} ± {statistics.stdev(values) if len(values) > 1 else 0:.1f}"

    lines = [f"{name}: validation top-1 % (mean ± sd over seeds), mixer firing rates, energy per image",
             "", "| init | seeds | epoch 1 | epoch 3 | epoch 5 | z gate init / trained | scan out init / trained "
             "| u init / trained | strict µJ | paper µJ | AC (M) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label in dict.fromkeys(r["candidate"] for r in runs if r["model"] == name):
        rs = [r for r in runs if r["candidate"] == label and r["model"] == name]
        at = lambda e: stat([r["val_curve"][e] for r in rs if len(r["val_curve"]) > e])  # noqa: E731
        rate = lambda k: (f"{statistics.fmean(r['firing_init'][k] for r in rs):.3f} / "  # noqa: E731
                          f"{statistics.fmean(r['firing_trained'][k] for r in rs):.3f}")
        energy = lambda k: statistics.fmean(r["energy_trained"][k] for r in rs)  # noqa: E731
        lines.append(f"| {label} | {len(rs)} | {at(0)} | {at(2)} | {at(4)} | {rate('mixer.z_lif')} | "
                     f"{rate('mixer.y_lif')} | {rate('mixer.u_lif')} | {energy('strict_uj'):.2f} | "
                     f"{energy('paper_uj'):.2f} | {energy('acs') / 1e6:.2f} |")
    return lines


if __name__ == "__main__":
    main()
