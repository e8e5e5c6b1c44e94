"""`smolmamba report`: docs/RESULTS.md regenerated from a compare folder (and an ablate folder), so the
page never drifts from the measured figures. Each testable claim of the seeds is set beside what
was measured and whether it held."""

from __future__ import annotations

import json
from pathlib import Path

from smolmamba.experiments.ablation_tables import AblationRow
from smolmamba.experiments.claims import MARGIN, ablation_claims, claims_table, comparison_claims, write_reference
from smolmamba.experiments.compare import markdown_table
from smolmamba.experiments.plateau import plateau_lines
from smolmamba.experiments.records import CompareResults, Comparison, LrSearchRow
from smolmamba.io import write_text_atomic

FULL_SCALE = """\
| data | command | estimate |
|---|---|---|
| CIFAR10 | `torchrun --nproc-per-node 8 -m smolmamba.cli train --config configs/cifar10_smolmamba_cifar.yaml data_root=/data/cifar10` (and `model=spikformer_4_384`, `model=spiking_mamba_cifar`) | ~300 epochs x 50k images: about 15-25 GPU-hours per model on one A100-class GPU |
| CIFAR100 | `... --config configs/cifar100_smolmamba_cifar.yaml data_root=/data/cifar100` | as CIFAR10 |
| ImageNet-1K | `torchrun --nnodes 2 --nproc-per-node 8 ... -m smolmamba.cli train --config configs/imagenet_smolmamba_imagenet.yaml data_root=/data/imagenet` | 300 epochs at 224x224, T=4: several hundred GPU-hours per model (Spikformer-8-512 reports ~8 x A100 for days) |
| CIFAR10-DVS | `... --config configs/cifar10_dvs_smolmamba_dvs.yaml data_root=/data/CIFAR10-DVS` | ~200 epochs x 9k samples, T=16: about 10 GPU-hours per model |
| DVS128 Gesture | `... --config configs/dvs_gesture_smolmamba_dvs.yaml data_root=/data/DvsGesture` | ~200 epochs x 1.2k samples, T=16: about 3 GPU-hours per model |

The estimates scale the published training budgets of Spikformer; measure your own first epoch and
multiply before booking a cluster."""


def setting_text(results: CompareResults) -> str:
    """The protocol of a compare run, from its results file."""
    cfg = results.config
    if cfg.val_fraction > 0:
        rule = (f"{cfg.val_fraction:.0%} of each training class held out as a validation split; "
                + (f"each model's lr as picked on validation in the earlier run `{cfg.lr_from}` (column lr); "
                   if cfg.lr_from else
                   f"lr picked from {', '.join(f'{x:g}' for x in cfg.lrs)} by seed 0's validation top-1; "
                   if len(cfg.lrs) > 1 else f"lr {cfg.lrs[0]:g}; ")
                + f"each run stops after {cfg.patience} epochs without a new best validation top-1 "
                + (f"counted from {cfg.patience_from:.0%} of its lr schedule " if cfg.patience_from else "")
                + f"(at most {cfg.epochs}) and is measured with its best-validation weights")
    else:
        rule = f"no validation split: lr {cfg.lrs[0]:g}, {cfg.epochs} epochs, last weights"
    tests = sorted({r.measured.test_images for r in results.runs if r.measured.test_images})
    params = [r.params for r in results.comparison.rows]
    constants = ("energy constants not recorded in this results file" if results.energy_pj is None else
                 f"E_MAC {results.energy_pj[0]:g} pJ, E_AC {results.energy_pj[1]:g} pJ")
    measured = results.comparison.datasets()
    missing = [d for d in cfg.datasets if d not in measured]
    stopped = "" if results.complete else (
        "; **the run was stopped before it finished**" + (f" ({', '.join(missing)} not run)" if missing else ""))
    return (f"Setting: protocol `{cfg.protocol}` on {', '.join(measured)}; {cfg.seeds} "
            f"seed(s), batch {cfg.batch_size}, augmentation {'on' if cfg.augment else 'off'}, "
            f"{'float32 training' if cfg.amp == 'none' else f'mixed precision amp={cfg.amp} (precision.py)'}; "
            f"{rule}. Test images per data set: {', '.join(map(str, tests)) or 'not recorded'}; models of "
            f"{min(params) / 1e6:.2f}-{max(params) / 1e6:.2f}M parameters. Whole run {results.elapsed_s:.0f} s on "
            f"this machine (torch {results.torch})"
            + stopped
            + f". Energy: 45 nm, {constants}; `strict` and `paper` "
            "conventions as in docs/ENERGY.md. Ratios are peer energy / SmolMamba energy (strict, paper in "
            "brackets).")


def plateau_text(results: CompareResults) -> list[str]:
    """Which runs reached their plateau (patience rule, or a flat end of the curve at the epoch cap)."""
    if results.config.val_fraction <= 0:
        return ["No validation split: runs trained a fixed number of epochs; a plateau was not checked."]
    return plateau_lines(list(results.runs), results.config.patience, MARGIN)


def lr_search_table(search: list[LrSearchRow]) -> list[str]:
    search = [r for r in search if r.val_top1 is not None]
    if len({r.lr for r in search}) < 2:
        return []
    lines = ["## Learning-rate search (seed 0, validation top-1)", "",
             "| data | model | lr | validation top-1 % | epochs | train s |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.dataset} | {r.model} | {r.lr:g} | {r.val_top1:.2f} | {r.epochs_run} | {r.train_s:.0f} |"
              for r in search]
    return lines + [""]


def read_ablations(path: Path) -> tuple[list[AblationRow], dict]:
    """-> (rows, config) of an ablate run; rows are looked up by their `key`, never by their label."""
    data = json.loads(Path(path).read_text())
    return [AblationRow.from_json(r, str(path)) for r in data["rows"]], data.get("config", {})


def ablation_section(ablate_dir: Path, cfg: dict) -> list[str]:
    """One ablate folder's setting line and its tables (ablations.md)."""
    setting = ", ".join(f"{k} {cfg[k]}" for k in ("dataset", "epochs", "finetune_epochs", "batch_size", "lr",
                                                  "seed", "seeds") if k in cfg)
    return [f"Setting of `{ablate_dir}`: {setting or 'not recorded'}.", "",
            (ablate_dir / "ablations.md").read_text(), ""]


def read_compares(compare_dirs: list[Path]) -> tuple[list[CompareResults], Comparison, list]:
    """The compare folders' results, their summary rows joined, and the claims they test."""
    results = [CompareResults.read(d) for d in compare_dirs]
    comparison = Comparison(tuple(row for r in results for row in r.comparison.rows))
    windows = {d: r.config.patience for r in results for d in r.comparison.datasets()}
    claims = comparison_claims(comparison, [run for r in results for run in r.runs], windows)
    return results, comparison, claims


def write_results_page(compare_dirs: list[Path], ablate_dirs: list[Path], out: Path,
                       reference_out: Path | None = None, note: str | None = None) -> Path:
    """Render RESULTS.md from the folders' JSON files (one compare folder per data set, one ablate folder
    per study group is fine; a (study, key) measured in two ablate folders is refused). With
    `reference_out`, also write the verdicts the quick `compare` sets its own beside (claims.write_reference);
    `note` is printed under the title (e.g. which folders predate a model change)."""
    compare_dirs, ablate_dirs = [Path(d) for d in compare_dirs], [Path(d) for d in ablate_dirs]
    results, comparison, compare_claims = read_compares(compare_dirs)
    ablations, ablate_cfgs, finetune = [], [], None
    for d in ablate_dirs:
        rows, cfg = read_ablations(d / "ablations.json")
        clash = {(r.study, r.key) for r in rows} & {(r.study, r.key) for r in ablations}
        if clash:
            raise ValueError(f"{d} measures {sorted(clash)[0]} again; pass one ablate folder per study")
        if any(r.study == "alignment" for r in rows):  # the fine-tuning the alignment claim depends on
            finetune = cfg.get("finetune_epochs")
        ablations += rows
        ablate_cfgs.append(cfg)
    command = (f"smolmamba report {' '.join(map(str, compare_dirs))}"
               + (f" --ablations {' '.join(map(str, ablate_dirs))}" if ablate_dirs else "")
               + (f" --note '{note}'" if note else ""))
    if reference_out is not None:
        write_reference(compare_claims, comparison, command, reference_out)
    parts = ["# Results", "", f"Generated by `{command}` from the measured files; do not edit by hand.", ""]
    parts += [f"**Note:** {note}", ""] if note else []
    for data in results:
        parts += [setting_text(data), "", *plateau_text(data), ""]
    parts += [
        f"Read with care: small data and small models. Accuracy claims are judged by the 95 % interval of "
        f"the per-seed paired difference (non-inferiority margin {MARGIN:g} point); with one seed there is "
        "no interval and such a claim is not resolved. The full-scale runs are listed at the end.",
        "",
        "## Claims",
        "",
        *claims_table(compare_claims + ablation_claims(ablations, finetune)),
        "",
        "## Comparison",
        "",
        markdown_table(comparison),
        "",
    ]
    parts += lr_search_table([row for r in results for row in r.lr_search])
    sweep = [p for r in results for p in r.sweep]
    if sweep:
        parts += ["## Keep-ratio sweep (zero-shot on the trained SmolMamba)", "",
                  "| data | setting | keep ratios | top-1 % | energy µJ |", "|---|---|---|---|---|"]
        parts += [f"| {p.dataset} | {p.setting} | {[round(r, 2) for r in p.keep_ratios]} | "
                  f"{p.top1:.2f} | {p.energy_uj:.3f} |" for p in sweep]
        parts.append("")
    if ablate_dirs:
        parts += ["## Ablations", ""]
        for d, cfg in zip(ablate_dirs, ablate_cfgs):
            parts += ablation_section(d, cfg)
    parts += ["## What it takes to test the claims at full scale", "", FULL_SCALE, ""]
    return write_text_atomic(out, "\n".join(parts))
