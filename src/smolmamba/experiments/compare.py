"""`smolmamba compare`: train SmolMamba and its peers on the same data, seeds and epochs; measure all.

Output folder (never overwritten): results.json, results.csv, results.md, runs/ (checkpoints), and
the plots of experiments/plots.py.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

from smolmamba.data.model_input import model_batches
from smolmamba.energy import E_AC_PJ, E_MAC_PJ
from smolmamba.experiments.config import CompareConfig
from smolmamba.experiments.measure import measure
from smolmamba.experiments.protocol import model_name, tune_and_train_all
from smolmamba.experiments.stats import mean_interval
from smolmamba.io import write_csv_atomic, write_json_atomic, write_text_atomic
from smolmamba.models import rebuild

SWEEP_SCALES = (1.5, 1.0, 0.75, 0.5, 0.3)  # multiply the default keep ratios (capped at 1)


def new_results_dir(output: str) -> Path:
    """results/<timestamp>[-n]/, never an existing folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(output).resolve()
    for i in range(1000):
        path = base / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise ValueError(f"could not create a fresh results folder under {base}")


def test_batches(model, dataset: str, cfg: CompareConfig) -> list:
    """The test split (or its first cfg.test_subset samples) as (x, y) batches fitted to the model."""
    size = 256 if cfg.test_subset is None else min(256, cfg.test_subset)
    batches = 10**9 if cfg.test_subset is None else -(-cfg.test_subset // size)
    return list(model_batches(model.cfg, dataset, cfg.data_roots.get(dataset), "test", batches, size))


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and spread over seeds per (dataset, role), plus energy ratios against the peers."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["role"]), []).append(r)
    out = []
    for (dataset, role), rs in groups.items():
        accs = [r["top1"] for r in rs]
        mean = lambda k: statistics.fmean(r[k] for r in rs)  # noqa: E731
        interval = mean_interval(accs)
        out.append({
            "dataset": dataset, "role": role, "model": rs[0]["model"], "seeds": len(rs),
            "top1_mean": statistics.fmean(accs), "top1_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "top1_ci95": [interval.lo, interval.hi], "top1_by_seed": {r["seed"]: r["top1"] for r in rs},
            "params": rs[0]["params"], "mean_firing_rate": mean("mean_firing_rate"),
            "tokens_per_stage": rs[0]["tokens_per_stage"], "macs": mean("macs"), "acs": mean("acs"),
            "energy_uj": mean("energy_uj"), "energy_uj_paper": mean("energy_uj_paper"),
            "img_per_s": mean("img_per_s"), "train_s": mean("train_s"), "lr": rs[0]["lr"],
            "epochs_run": [r["epochs_run"] for r in rs],
            "val_top1_mean": None if rs[0]["best_val_top1"] is None else mean("best_val_top1"),
        })
    for row in out:
        for peer in ("spikformer", "spiking_mamba"):
            ref = next((r for r in out if r["dataset"] == row["dataset"] and r["role"] == peer), None)
            for key, suffix in (("energy_uj", ""), ("energy_uj_paper", "_paper")):
                row[f"energy_ratio_vs_{peer}{suffix}"] = ref[key] / row[key] if ref else None
    return out


def keep_ratio_sweep(trained, name: str, dataset: str, cfg: CompareConfig) -> list[dict]:
    """Zero-shot sweep of a pruned model: same weights, keep ratios scaled; plus pruning off."""
    base = trained.cfg
    batches = test_batches(trained, dataset, cfg)
    points = []
    settings = [("off", dict(pruning_mode="off"))] + [
        (f"x{s:g}", dict(keep_ratios=tuple(min(1.0, r * s) for r in base.keep_ratios))) for s in SWEEP_SCALES]
    for label, overrides in settings:
        model = rebuild(trained, name, **overrides)  # only pruning-off drops pruners
        m = measure(model, batches)
        ratios = list(model.cfg.keep_ratios) if model.cfg.prunes else [1.0] * len(base.keep_ratios)
        points.append({"dataset": dataset, "setting": label, "keep_ratios": ratios,
                       "mean_keep": sum(ratios) / len(ratios), "top1": m["top1"],
                       "energy_uj": m["energy_uj"], "energy_uj_paper": m["energy_uj_paper"],
                       "tokens_per_stage": m["tokens_per_stage"]})
    return points


def model_overrides(model_cfg) -> dict:
    """ModelCfg as keyword overrides (so a variant can be rebuilt with some fields changed)."""
    return {f.name: getattr(model_cfg, f.name) for f in dataclasses.fields(model_cfg)}


def write_tables(out: Path, rows: list[dict], summary: list[dict], sweep: list[dict], lr_search: list[dict],
                 cfg: CompareConfig, elapsed: float, complete: bool) -> str:
    """results.json, results.csv, results.md; returns the Markdown table."""
    write_json_atomic(out / "results.json", {"config": dataclasses.asdict(cfg), "complete": complete, "runs": rows,
                                              "summary": summary, "lr_search": lr_search,
                                              "keep_ratio_sweep": sweep, "elapsed_s": elapsed,
                                              "energy_pj": {"mac": E_MAC_PJ, "ac": E_AC_PJ},
                                              "torch": torch.__version__})
    keys = list(summary[0])
    write_csv_atomic(out / "results.csv", [{k: json.dumps(r[k]) if isinstance(r[k], (list, dict)) else r[k] for k in keys}
                                           for r in summary], keys)
    md = markdown_table(summary)
    write_text_atomic(out / "results.md", md + "\n")
    return md


def _interval(row: dict) -> str:
    lo, hi = row.get("top1_ci95") or (None, None)
    return "- (1 seed)" if lo is None or row["seeds"] < 2 else f"{lo:.2f} to {hi:.2f}"


def fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def markdown_table(summary: list[dict]) -> str:
    head = ("| data | model | params | lr | epochs | top-1 % (mean ± sd, seeds) | 95 % interval | firing rate | "
            "tokens per stage | "
            "MMAC | MAC(M) | AC(M) | energy µJ (strict) | energy µJ (paper) | x vs Spikformer | "
            "x vs Spiking Mamba | img/s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in summary:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['params'] / 1e3:.0f}k | {fmt(r.get('lr'), 'g')} | "
            f"{', '.join(map(str, r.get('epochs_run') or ['-']))} | {r['top1_mean']:.2f} ± "
            f"{r['top1_std']:.2f} ({r['seeds']}) | {_interval(r)} | {r['mean_firing_rate']:.3f} | {r['tokens_per_stage']} | "
            f"{(r['macs'] + r['acs']) / 1e6:.2f} | {r['macs'] / 1e6:.2f} | {r['acs'] / 1e6:.2f} | "
            f"{r['energy_uj']:.2f} | {r['energy_uj_paper']:.2f} | {fmt(r['energy_ratio_vs_spikformer'])} "
            f"({fmt(r['energy_ratio_vs_spikformer_paper'])}) | {fmt(r['energy_ratio_vs_spiking_mamba'])} "
            f"({fmt(r['energy_ratio_vs_spiking_mamba_paper'])}) | {r['img_per_s']:.0f} |")
    return "\n".join(lines)


def run_compare(cfg: CompareConfig, log=print) -> Path:
    """Train and measure every (dataset, role, seed); write tables and plots; -> the results folder."""
    from smolmamba.experiments import plots

    start = time.perf_counter()
    out = new_results_dir(cfg.output)
    log(f"results -> {out}")
    rows, sweep, lr_search, masks = [], [], [], {}
    pairs = [(d, r) for d in cfg.datasets for r in cfg.roles]
    # in one process each model is measured as soon as it is trained; workers share one pool for all
    groups = [pairs] if cfg.workers > 1 else [[pair] for pair in pairs]
    for group in groups:
        trained = tune_and_train_all(group, cfg, out / "runs", log)
        for dataset, role in group:
            runs, search = trained[(dataset, role)]
            lr_search += search
            for run in runs:
                batches = test_batches(run.model, dataset, cfg)
                row = {"dataset": dataset, "role": role, "model": model_name(role, dataset), **run.record(),
                       **measure(run.model, batches)}
                rows.append(row)
                log(f"{dataset:14s} {row['model']:28s} seed {run.seed}: top-1 {row['top1']:.2f}%  "
                    f"energy {row['energy_uj']:.2f} uJ (paper {row['energy_uj_paper']:.2f})  "
                    f"lr {run.lr:g}, {run.epochs_run} epochs, train {run.train_s:.0f} s")
                if role == "smolmamba" and run.seed == 0:
                    if cfg.sweep:
                        sweep += keep_ratio_sweep(run.model, row["model"], dataset, cfg)
                    if cfg.masks:
                        masks[dataset] = plots.pruning_masks(run.model, batches[0][0][:8])
            # after every model, so a long run that is stopped keeps what it measured ("complete": false)
            write_tables(out, rows, summarise(rows), sweep, lr_search, cfg, time.perf_counter() - start, False)
    summary = summarise(rows)
    md = write_tables(out, rows, summary, sweep, lr_search, cfg, time.perf_counter() - start, True)
    plots.accuracy_vs_energy(summary, rows, out / "accuracy_vs_energy.png")
    if sweep:
        plots.keep_ratio_sweep(sweep, out / "keep_ratio_sweep.png")
    for dataset, figure_data in masks.items():
        plots.save_masks(figure_data, out / f"pruning_masks_{dataset}.png")
    log(md)
    log(f"total {time.perf_counter() - start:.0f} s; wrote {out}")
    return out
