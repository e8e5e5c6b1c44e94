"""`smolmamba compare`: train SmolMamba and its peers on the same data, seeds and epochs; measure all.

Output folder (never overwritten): results.json, results.csv, results.md, runs/ (checkpoints), and
the plots of experiments/plots.py.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from smolmamba.data.model_input import model_batches
from smolmamba.energy import E_AC_PJ, E_MAC_PJ
from smolmamba.experiments.claims import claims_table, comparison_claims, read_reference
from smolmamba.experiments.config import CompareConfig
from smolmamba.experiments.measure import kept_tokens, measure, metered_accuracy
from smolmamba.experiments.protocol import tune_and_train_all
from smolmamba.experiments.records import (PEERS, CompareResults, Comparison, LrSearchRow, Measurement, RunRow,
                                           SummaryRow, SweepPoint, config_from_json, summarise)
from smolmamba.io import write_csv_atomic, write_json_atomic, write_text_atomic
from smolmamba.models import rebuild

SWEEP_SCALES = (1.5, 1.0, 0.75, 0.5, 0.3)  # multiply the default keep ratios (capped at 1)
# the full protocol's verdicts and plateau top-1 (written by `smolmamba report --reference-out`)
REFERENCE = Path(__file__).with_name("full_protocol_reference.json")
CONFIG_FILE = "compare_config.json"  # the CompareConfig, written first, so a stopped run can be resumed


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


def keep_ratio_sweep(trained, name: str, dataset: str, batches: list, measured: Measurement) -> list[SweepPoint]:
    """Zero-shot sweep of a pruned model: same weights, keep ratios scaled; plus pruning off.
    batches: the test batches `measured` (the trained model's own measurement, the x1 point) was taken on."""
    base = trained.cfg.pruning
    points = []
    settings = [("off", dict(pruning_mode="off"))] + [
        (f"x{s:g}", dict(keep_ratios=tuple(min(1.0, r * s) for r in base.keep_ratios))) for s in SWEEP_SCALES]
    for label, overrides in settings:
        if overrides.get("keep_ratios") == tuple(base.keep_ratios):  # the trained model as measured
            points.append(SweepPoint(dataset, label, tuple(base.keep_ratios), measured.top1, measured.energy_uj,
                                     measured.energy_uj_paper, measured.tokens_per_stage))
            continue
        model = rebuild(trained, name, **overrides)  # only pruning-off drops pruners
        top1, strict, paper = metered_accuracy(model, batches)
        pruning = model.cfg.pruning
        ratios = pruning.keep_ratios if pruning.prunes else (1.0,) * len(base.keep_ratios)
        points.append(SweepPoint(dataset, label, ratios, top1, strict.totals["energy_uj"], paper.totals["energy_uj"],
                                 kept_tokens(model, batches[0][0])))
    return points


def write_tables(out: Path, results: CompareResults) -> str:
    """results.json, results.csv, results.md; returns the Markdown table."""
    write_json_atomic(out / "results.json", results.to_json())
    summary = results.comparison.to_json()
    keys = list(summary[0])
    write_csv_atomic(out / "results.csv", [{k: json.dumps(r[k]) if isinstance(r[k], (list, dict)) else r[k] for k in keys}
                                           for r in summary], keys)
    md = markdown_table(results.comparison)
    write_text_atomic(out / "results.md", md + "\n")
    return md


def _interval(row: SummaryRow) -> str:
    return "- (1 seed)" if row.top1_ci95 is None else f"{row.top1_ci95[0]:.2f} to {row.top1_ci95[1]:.2f}"


def fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def markdown_table(comparison: Comparison) -> str:
    head = ("| data | model | params | lr | epochs | top-1 % (mean ± sd, seeds) | 95 % interval | firing rate | "
            "tokens per stage | "
            "MMAC | MAC(M) | AC(M) | energy µJ (strict) | energy µJ (paper) | x vs Spikformer | "
            "x vs Spiking Mamba | img/s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in comparison.rows:
        ratios = " | ".join(f"{fmt(comparison.energy_ratio(r, peer))} ({fmt(comparison.energy_ratio(r, peer, 'paper'))})"
                            for peer in PEERS)
        lines.append(
            f"| {r.dataset} | {r.model} | {r.params / 1e3:.0f}k | {fmt(r.lr, 'g')} | "
            f"{', '.join(map(str, r.epochs_run or ['-']))} | {r.top1_mean:.2f} ± "
            f"{r.top1_std:.2f} ({r.seeds}) | {_interval(r)} | {r.mean_firing_rate:.3f} | {list(r.tokens_per_stage)} | "
            f"{(r.macs + r.acs) / 1e6:.2f} | {r.macs / 1e6:.2f} | {r.acs / 1e6:.2f} | "
            f"{r.energy_uj:.2f} | {r.energy_uj_paper:.2f} | {ratios} | {r.img_per_s:.0f} |")
    return "\n".join(lines)


def claims_section(results: CompareResults) -> str:
    """claims.md: the claims this run tests, each beside the full protocol's verdict (the shipped reference)
    and what limits it here (a wide interval, models before their plateau); then each model's distance to
    its full-protocol plateau."""
    windows = {d: results.config.patience for d in results.comparison.datasets()}
    claims = comparison_claims(results.comparison, list(results.runs), windows)
    lines = ["## Claims", ""]
    if not REFERENCE.is_file():
        return "\n".join(lines + claims_table(claims) + ["", "No full-protocol reference is shipped to compare with."])
    verdicts, plateau, source = read_reference(REFERENCE)
    lines += claims_table(claims, verdicts)
    lines += ["", f"Full protocol: `{source}` (docs/RESULTS.md).", "",
              "| data | model | top-1 % here | full-protocol plateau | gap, points |", "|---|---|---|---|---|"]
    for r in results.comparison.rows:
        full = plateau.get(f"{r.dataset}/{r.role}")
        lines.append(f"| {r.dataset} | {r.model} | {r.top1_mean:.2f} | {fmt(full)} | "
                     f"{'-' if full is None else f'{r.top1_mean - full:+.2f}'} |")
    return "\n".join(lines)


def resume_config(folder: Path) -> CompareConfig:
    """The CompareConfig a stopped compare folder was started with, set to resume it in place."""
    folder = Path(folder)
    for name in (CONFIG_FILE, "results.json"):  # results.json: folders of versions without CONFIG_FILE
        path = folder / name
        if path.is_file():
            recorded = json.loads(path.read_text())
            recorded = recorded["config"] if name == "results.json" else recorded
            return dataclasses.replace(config_from_json(recorded), output=str(folder), resume=True)
    raise FileNotFoundError(f"--resume {folder}: neither {CONFIG_FILE} nor results.json there; pass the folder a "
                            "stopped `smolmamba compare` printed as 'results -> ...'")


def run_compare(cfg: CompareConfig, log=print) -> Path:
    """Train and measure every (dataset, role, seed); write tables, claims and plots; -> the results folder."""
    from smolmamba.experiments import plots

    start = time.perf_counter()
    out = Path(cfg.output) if cfg.resume else new_results_dir(cfg.output)
    log(f"results -> {out}" + (" (resuming its runs)" if cfg.resume else ""))
    write_json_atomic(out / CONFIG_FILE, dataclasses.asdict(cfg))
    rows: list[RunRow] = []
    sweep: list[SweepPoint] = []
    lr_search: list[LrSearchRow] = []
    masks = {}
    pairs = [(d, r) for d in cfg.datasets for r in cfg.roles]

    def results(complete: bool) -> CompareResults:
        return CompareResults(cfg, complete, tuple(rows), summarise(rows), tuple(lr_search), tuple(sweep),
                              time.perf_counter() - start, (E_MAC_PJ, E_AC_PJ), torch.__version__)

    # in one process each model is measured as soon as it is trained; workers share one pool for all
    groups = [pairs] if cfg.workers > 1 else [[pair] for pair in pairs]
    for group in groups:
        trained = tune_and_train_all(group, cfg, out / "runs", log)
        for dataset, role in group:
            runs, search = trained[(dataset, role)]
            lr_search += search
            for run in runs:
                batches = test_batches(run.model, dataset, cfg)
                row = run.row(dataset, role, measure(run.model, batches), out)
                rows.append(row)
                log(f"{dataset:14s} {row.model:28s} seed {run.seed}: top-1 {row.top1:.2f}%  "
                    f"energy {row.measured.energy_uj:.2f} uJ (paper {row.measured.energy_uj_paper:.2f})  "
                    f"lr {run.lr:g}, {run.epochs_run} epochs, train {run.train_s:.0f} s")
                if role == "smolmamba" and run.seed == 0:
                    if cfg.sweep:
                        sweep += keep_ratio_sweep(run.model, row.model, dataset, batches, row.measured)
                    if cfg.masks:
                        masks[dataset] = plots.pruning_masks(run.model, batches[0][0][:8])
            # after every model, so a long run that is stopped keeps what it measured ("complete": false)
            write_tables(out, results(False))
    final = results(True)
    md = write_tables(out, final)
    claims = claims_section(final)
    write_text_atomic(out / "claims.md", claims + "\n")
    plots.accuracy_vs_energy(final.comparison, out / "accuracy_vs_energy.png")
    if sweep:
        plots.keep_ratio_sweep(sweep, out / "keep_ratio_sweep.png")
    for dataset, figure_data in masks.items():
        plots.save_masks(figure_data, out / f"pruning_masks_{dataset}.png")
    log(md)
    log(claims)
    log(f"total {time.perf_counter() - start:.0f} s; wrote {out}")
    return out
