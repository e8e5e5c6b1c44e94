"""`smolmamba report`: docs/RESULTS.md regenerated from a compare folder (and an ablate folder), so the
page never drifts from the measured figures. Each testable claim of the seeds is set beside what
was measured and whether it held."""

from __future__ import annotations

import json
from pathlib import Path

from smolmamba.experiments.ablate import SPIKFORMER_REFERENCE, seed_means
from smolmamba.experiments.compare import markdown_table
from smolmamba.experiments.plateau import plateau_lines
from smolmamba.experiments.stats import Interval, paired_difference, verdict
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


MARGIN = 1.0  # accuracy points: the non-inferiority margin; single-run ablation gaps below it are noise


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("held" if ok else "did **not** hold")


def _better(diff: float) -> str:
    """Verdict for 'A is more accurate than B' from the gap in points (single-run ablations)."""
    if abs(diff) <= MARGIN:
        return f"not shown (gap within {MARGIN:g} point)"
    return _verdict(diff > 0)


def _paired(a: dict, b: dict) -> Interval:
    """Per-seed paired difference of top-1 (a - b); results files without per-seed values give n = 1."""
    if "top1_by_seed" in a and "top1_by_seed" in b:
        return paired_difference({int(k): v for k, v in a["top1_by_seed"].items()},
                                 {int(k): v for k, v in b["top1_by_seed"].items()})
    d = a["top1_mean"] - b["top1_mean"]
    return Interval(d, d, d, 1)


def _diff_text(d: Interval) -> str:
    if d.n < 2:
        return f"{d.mean:+.2f} points (1 seed: no interval)"
    return f"{d.mean:+.2f} points, 95 % interval {d.lo:+.2f} to {d.hi:+.2f} over {d.n} paired seeds"


def claims(summary: list[dict], ablations: list[dict], finetune_epochs: int | None = None) -> list[str]:
    """One table row per claim and data set."""
    lines = ["| claim (seed) | data | measured | verdict |", "|---|---|---|---|"]
    by = {(r["dataset"], r["role"]): r for r in summary}
    for dataset in dict.fromkeys(r["dataset"] for r in summary):
        smol = by.get((dataset, "smolmamba"))
        if smol is None:
            continue
        for peer, label in (("spikformer", "spiking Transformer"), ("spiking_mamba", "Spiking Mamba variant")):
            ratio, paper = smol.get(f"energy_ratio_vs_{peer}"), smol.get(f"energy_ratio_vs_{peer}_paper")
            if ratio is None:
                continue
            lines.append(f"| >= 1.5x lower energy than the {label} (000/001) | {dataset} | "
                         f"{ratio:.2f}x strict, {paper:.2f}x paper convention | strict: {_verdict(ratio >= 1.5)}; "
                         f"paper: {_verdict(paper >= 1.5)} |")
            other = by[(dataset, peer)]
            diff = _paired(smol, other)  # non-inferiority: held when the interval excludes -MARGIN
            lines.append(f"| equal or better accuracy than the {label} (000/001; within {MARGIN:g} point) | "
                         f"{dataset} | {smol['top1_mean']:.2f}% vs {other['top1_mean']:.2f}% ({_diff_text(diff)}) | "
                         f"{verdict(diff, -MARGIN)} |")
        naive = by.get((dataset, "smolmamba_naive"))
        if naive is not None:
            diff = _paired(smol, naive)
            lines.append(f"| alignment beats naive pruning after training (004 Table 4) | {dataset} | "
                         f"{smol['top1_mean']:.2f}% vs {naive['top1_mean']:.2f}% ({_diff_text(diff)}) | "
                         f"{verdict(diff)} |")
    rows = {(r["study"], r["key"]): r for r in ablations}
    aligned, naive = rows.get(("alignment", "aligned_zero_shot")), rows.get(("alignment", "naive_zero_shot"))
    if aligned and naive:
        lines.append(f"| alignment rescues zero-shot pruning (004 Fig. 2) | ablation | {aligned['top1']:.2f}% "
                     f"aligned vs {naive['top1']:.2f}% naive | {_better(aligned['top1'] - naive['top1'])} |")
    aligned, naive = rows.get(("alignment", "aligned_finetuned")), rows.get(("alignment", "naive_finetuned"))
    if aligned and naive:
        lines.append(f"| alignment beats naive pruning after fine-tuning {finetune_epochs} epoch(s) (004 Table 4) | "
                     f"ablation | {aligned['top1']:.2f}% aligned vs {naive['top1']:.2f}% naive | "
                     f"{_better(aligned['top1'] - naive['top1'])} |")
    siv, high, rnd = (rows.get(("pruner", n)) for n in ("siv", "high_siv", "random"))
    if siv and high and rnd:
        ok = siv["top1"] > high["top1"] + MARGIN and siv["top1"] > rnd["top1"] + MARGIN
        lines.append(f"| pruning low-SIV tokens beats high-SIV and random (003) | ablation | SIV {siv['top1']:.2f}%, "
                     f"least-active kept {high['top1']:.2f}%, random {rnd['top1']:.2f}% | {_verdict(ok)} |")
    state = seed_means([r for r in ablations if r["study"] == "state"])
    reference = next((r for r in state if r["key"] == SPIKFORMER_REFERENCE), None)
    if reference is not None:
        lines.append(equal_accuracy_claim([r for r in state if r is not reference], reference))
    return lines


def equal_accuracy_claim(settings: list[dict], reference: dict) -> str:
    """The state study's row: the lowest-strict-energy SmolMamba setting within MARGIN of Spikformer's top-1."""
    head = (f"| >= 1.5x lower strict energy than the spiking Transformer at equal accuracy (000; within "
            f"{MARGIN:g} point; {reference['seeds']} seed(s), same recipe) | state ablation | ")
    equal = [r for r in settings if r["top1"] >= reference["top1"] - MARGIN]
    if not equal:
        best = max(settings, key=lambda r: r["top1"])
        return (head + f"no setting within {MARGIN:g} point of Spikformer's {reference['top1']:.2f}% (best "
                f"{best['setting']}: {best['top1']:.2f}%) | did **not** hold |")
    best = min(equal, key=lambda r: r["energy_uj"])
    strict, paper = (reference[k] / best[k] for k in ("energy_uj", "energy_uj_paper"))
    return (head + f"{best['setting']}: {best['top1']:.2f}% vs {reference['top1']:.2f}%, {strict:.2f}x strict "
            f"({paper:.2f}x paper) | strict: {_verdict(strict >= 1.5)}; paper: {_verdict(paper >= 1.5)} |")


def setting_text(data: dict) -> str:
    """The protocol of a compare run, from its results file."""
    cfg, runs = data["config"], data["runs"]
    lrs = cfg.get("lrs") or [cfg.get("lr")]
    validated = cfg.get("val_fraction", 0) > 0
    if validated:
        rule = (f"{cfg['val_fraction']:.0%} of each training class held out as a validation split; "
                + (f"each model's lr as picked on validation in the earlier run `{cfg['lr_from']}` (column lr); "
                   if cfg.get("lr_from") else
                   f"lr picked from {', '.join(f'{x:g}' for x in lrs)} by seed 0's validation top-1; "
                   if len(lrs) > 1 else f"lr {lrs[0]:g}; ")
                + f"each run stops after {cfg['patience']} epochs without a new best validation top-1 "
                + (f"counted from {cfg['patience_from']:.0%} of its lr schedule " if cfg.get("patience_from") else "")
                + f"(at most {cfg['epochs']}) and is measured with its best-validation weights")
    else:
        rule = f"no validation split: lr {lrs[0]:g}, {cfg['epochs']} epochs, last weights"
    tests = sorted({r.get("test_images") for r in runs if r.get("test_images")})
    params = [r["params"] for r in data["summary"]]
    energy = data.get("energy_pj")
    constants = ("energy constants not recorded in this results file" if energy is None else
                 f"E_MAC {energy['mac']:g} pJ, E_AC {energy['ac']:g} pJ")
    measured = list(dict.fromkeys(r["dataset"] for r in data["summary"]))
    missing = [d for d in cfg["datasets"] if d not in measured]
    stopped = "" if data.get("complete", True) else (
        "; **the run was stopped before it finished**" + (f" ({', '.join(missing)} not run)" if missing else ""))
    return (f"Setting: protocol `{cfg.get('protocol', 'not recorded')}` on {', '.join(measured)}; {cfg['seeds']} "
            f"seed(s), batch {cfg['batch_size']}, augmentation {'on' if cfg.get('augment', True) else 'off'}; "
            f"{rule}. Test images per data set: {', '.join(map(str, tests)) or 'not recorded'}; models of "
            f"{min(params) / 1e6:.2f}-{max(params) / 1e6:.2f}M parameters. Whole run {data['elapsed_s']:.0f} s on "
            f"this machine (torch {data['torch']})"
            + stopped
            + f". Energy: 45 nm, {constants}; `strict` and `paper` "
            "conventions as in docs/ENERGY.md. Ratios are peer energy / SmolMamba energy (strict, paper in "
            "brackets).")


def plateau_text(data: dict) -> list[str]:
    """Which runs reached their plateau (patience rule, or a flat end of the curve at the epoch cap)."""
    if data["config"].get("val_fraction", 0) <= 0:
        return ["No validation split: runs trained a fixed number of epochs; a plateau was not checked."]
    return plateau_lines(data["runs"], data["config"]["patience"], MARGIN)


def lr_search_table(search: list[dict]) -> list[str]:
    search = [r for r in search if r.get("val_top1") is not None]
    if len({r["lr"] for r in search}) < 2:
        return []
    lines = ["## Learning-rate search (seed 0, validation top-1)", "",
             "| data | model | lr | validation top-1 % | epochs | train s |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['model']} | {r['lr']:g} | {r['val_top1']:.2f} | {r['epochs_run']} | "
              f"{r['train_s']:.0f} |" for r in search]
    return lines + [""]


def _joined(datas: list[dict], key: str) -> list[dict]:
    return [row for data in datas for row in data.get(key) or []]


def read_ablations(path: Path) -> tuple[list[dict], dict]:
    """-> (rows, config) of an ablate run; rows are looked up by their `key`, never by their label."""
    data = json.loads(Path(path).read_text())
    unkeyed = [r["setting"] for r in data["rows"] if "key" not in r]
    if unkeyed:
        raise ValueError(f"{path} has rows without a 'key' ({unkeyed[0]!r}, ...): it was written by an older "
                         "smolmamba; rerun `smolmamba ablate` for a results file the report can read")
    return data["rows"], data.get("config", {})


def ablation_section(ablate_dir: Path, cfg: dict) -> list[str]:
    """One ablate folder's setting line and its tables (ablations.md)."""
    setting = ", ".join(f"{k} {cfg[k]}" for k in ("dataset", "epochs", "finetune_epochs", "batch_size", "lr",
                                                  "seed", "seeds") if k in cfg)
    return [f"Setting of `{ablate_dir}`: {setting or 'not recorded'}.", "",
            (ablate_dir / "ablations.md").read_text(), ""]


def write_results_page(compare_dirs: list[Path], ablate_dirs: list[Path], out: Path) -> Path:
    """Render RESULTS.md from the folders' JSON files (one compare folder per data set, one ablate folder
    per study group is fine; a (study, key) measured in two ablate folders is refused)."""
    compare_dirs, ablate_dirs = [Path(d) for d in compare_dirs], [Path(d) for d in ablate_dirs]
    datas = [json.loads((d / "results.json").read_text()) for d in compare_dirs]
    summary = _joined(datas, "summary")
    ablations, ablate_cfgs, finetune = [], [], None
    for d in ablate_dirs:
        rows, cfg = read_ablations(d / "ablations.json")
        clash = {(r["study"], r["key"]) for r in rows} & {(r["study"], r["key"]) for r in ablations}
        if clash:
            raise ValueError(f"{d} measures {sorted(clash)[0]} again; pass one ablate folder per study")
        if any(r["study"] == "alignment" for r in rows):  # the fine-tuning the alignment claim depends on
            finetune = cfg.get("finetune_epochs")
        ablations += rows
        ablate_cfgs.append(cfg)
    parts = [
        "# Results",
        "",
        f"Generated by `smolmamba report {' '.join(map(str, compare_dirs))}"
        + (f" --ablations {' '.join(map(str, ablate_dirs))}" if ablate_dirs else "")
        + "` from the measured files; do not edit by hand.",
        "",
    ]
    for data in datas:
        parts += [setting_text(data), "", *plateau_text(data), ""]
    parts += [
        f"Read with care: small data and small models. Accuracy claims are judged by the 95 % interval of "
        f"the per-seed paired difference (non-inferiority margin {MARGIN:g} point); with one seed there is "
        "no interval and such a claim is not resolved. The full-scale runs are listed at the end.",
        "",
        "## Claims",
        "",
        *claims(summary, ablations, finetune),
        "",
        "## Comparison",
        "",
        markdown_table(summary),
        "",
    ]
    parts += lr_search_table(_joined(datas, "lr_search"))
    sweep = _joined(datas, "keep_ratio_sweep")
    if sweep:
        parts += ["## Keep-ratio sweep (zero-shot on the trained SmolMamba)", "",
                  "| data | setting | keep ratios | top-1 % | energy µJ |", "|---|---|---|---|---|"]
        parts += [f"| {p['dataset']} | {p['setting']} | {[round(r, 2) for r in p['keep_ratios']]} | "
                  f"{p['top1']:.2f} | {p['energy_uj']:.3f} |" for p in sweep]
        parts.append("")
    if ablate_dirs:
        parts += ["## Ablations", ""]
        for d, cfg in zip(ablate_dirs, ablate_cfgs):
            parts += ablation_section(d, cfg)
    parts += ["## What it takes to test the claims at full scale", "", FULL_SCALE, ""]
    return write_text_atomic(out, "\n".join(parts))
