"""`smolmamba remeasure`: measure the trained weights of a compare folder again with this version's counters
(when an operation count or an energy convention changes), keeping how each run was trained.

Each run's best-validation weights (last/ without a validation split) are read from its checkpoint folder,
measured on the same test batches, and the tables, claims, keep-ratio sweep and energy plots are rewritten
in place;
results.json records when and why (`remeasured`)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from smolmamba.experiments.compare import claims_section, keep_ratio_sweep, test_batches, write_tables
from smolmamba.experiments.measure import measure
from smolmamba.experiments.records import CompareResults, RunRow, summarise
from smolmamba.io import write_text_atomic


def run_folder(results: CompareResults, row: RunRow, folder: Path) -> Path:
    """The checkpoint folder of one run: as recorded, or (older files) by the protocol's naming rule."""
    if row.run_dir is not None:
        return folder / row.run_dir
    searched = len(results.config.lrs) > 1 and not results.config.lr_from
    name = f"lr{row.lr:g}-seed0" if row.seed == 0 and searched else f"seed{row.seed}"
    return folder / "runs" / row.dataset / row.model / name


def remeasure(folder: Path, reason: str, log=print) -> CompareResults:
    """Measure every run of the compare folder again; rewrite its tables, claims and energy plots."""
    from smolmamba.experiments import plots
    from smolmamba.train import checkpoint as ckpt

    folder = Path(folder)
    results = CompareResults.read(folder)
    weights = "best" if results.config.val_fraction > 0 else "last"
    rows, sweep = [], []
    for row in results.runs:
        path = run_folder(results, row, folder) / weights
        if not path.exists():
            raise FileNotFoundError(f"{path}: the checkpoint of {row.label()} on {row.dataset} is missing; "
                                    "remeasure needs the folder's runs/ as compare wrote it")
        model, _ = ckpt.load_model(ckpt.resolve(path))
        batches = test_batches(model.eval(), row.dataset, results.config)
        rows.append(dataclasses.replace(row, measured=measure(model, batches),
                                        run_dir=str(path.parent.relative_to(folder))))
        log(f"{row.dataset:14s} {row.label():36s} top-1 {rows[-1].top1:.2f}% (was {row.top1:.2f}), energy "
            f"{rows[-1].measured.energy_uj:.3f} uJ (was {row.measured.energy_uj:.3f})")
        if results.sweep and row.role == "smolmamba" and row.seed == 0:
            sweep += keep_ratio_sweep(model, row.model, row.dataset, batches, rows[-1].measured)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    new = dataclasses.replace(results, runs=tuple(rows), comparison=summarise(rows), sweep=tuple(sweep),
                              remeasured=f"{stamp}: {reason}")
    write_tables(folder, new)
    write_text_atomic(folder / "claims.md", claims_section(new) + "\n")
    plots.accuracy_vs_energy(new.comparison, folder / "accuracy_vs_energy.png")
    if sweep:
        plots.keep_ratio_sweep(sweep, folder / "keep_ratio_sweep.png")
    return new
