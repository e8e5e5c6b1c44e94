"""`smolmamba ablate`: the ablations of the paper's claims, each a table (Markdown, JSON) and a plot.

1. alignment on/off, zero-shot (pruning switched on in a dense-trained model) and after fine-tuning;
2. pruner: SST-TP, SIV, latency only, clipped value, random, keep-least-active, at equal keep ratios
   (zero-shot on the dense-trained model, and fine-tuned for SST-TP and SIV);
3. SST-TP weights: learnable vs fixed alpha/beta (and the learned values);
4. SMixer's DSTSP: temporal only, spatial only, both;
5. pruning more than 60 % of the tokens (the seed's pitfall 2): accuracy vs final keep ratio;
on request (`--only block state`, each trains its variants from scratch):
6. block: the SSM block's design choices one at a time (why SmolMamba converges slowly);
7. state: d_state x expand -> accuracy, strict/paper energy and the scan's share of the strict total,
   beside Spikformer trained with the same recipe and seeds (energy at equal accuracy).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from smolmamba.experiments.ablation_tables import (SPIKFORMER_REFERENCE, AblationRow, SettingSummary, ablations_markdown,
                                                     seed_means)
from smolmamba.experiments.compare import new_results_dir, test_batches
from smolmamba.experiments.config import ALL_STUDIES, AblateConfig, CompareConfig
from smolmamba.experiments.measure import measure
from smolmamba.experiments.records import Measurement
from smolmamba.experiments.protocol import train_one
from smolmamba.io import write_json_atomic, write_text_atomic
from smolmamba.models import create_model, rebuild

PRUNERS = ("sst_tp", "siv", "latency", "clipped", "random", "high_siv")
DEEP_PRUNING = ((1.0, 1.0), (0.8, 0.6), (0.6, 0.4), (0.5, 0.3), (0.4, 0.2), (0.3, 0.1))
BLOCK_VARIANTS = {  # key -> (label, model, overrides); one design choice changed at a time
    "as_built": ("SmolMamba as built", "smolmamba_tiny", {}),
    "u_batchnorm": ("BatchNorm instead of ScaleNorm on u", "smolmamba_tiny", dict(u_norm="batch")),
    "no_u_spikes": ("no LIF on u (real-valued scan input)", "smolmamba_tiny", dict(u_spikes=False)),
    "no_z_gate": ("no z gate", "smolmamba_tiny", dict(z_gate=False)),
    "no_y_spikes": ("no BN + LIF after the scan", "smolmamba_tiny", dict(y_spikes=False)),
    "dt_max_0.5": ("dt init up to 0.5 (Mamba: 0.1)", "smolmamba_tiny", dict(dt_max=0.5)),
    "surrogate_alpha_2": ("surrogate alpha 2 (default 4)", "smolmamba_tiny", dict(surrogate_alpha=2.0)),
    "no_pruner_ste": ("no SST-TP straight-through factor", "smolmamba_tiny", dict(pruner_ste=False)),
    "prune_from_block_0": ("first pruning after block 0 (keep 0.7, 0.5, 0.4)", "smolmamba_tiny",
                           dict(prune_start=1, keep_ratios=(0.7, 0.5, 0.4))),
    "no_pruning": ("no pruning (spiking_mamba_tiny)", "spiking_mamba_tiny", {}),
}
STATE_GRID = tuple((n, e) for e in (1, 2) for n in (1, 2, 4, 8, 16))  # (d_state, expand)


def variant(trained, name: str, **overrides):
    """`name` rebuilt with the trained model's config plus overrides, carrying the trained weights."""
    return rebuild(trained, name, **overrides)


def row(study: str, key: str, setting: str, m: Measurement, seed: int = 0, **extra) -> AblationRow:
    return AblationRow(study, key, setting, m.top1, m.energy_uj, m.tokens_per_stage, seed, extra=extra)


class Ablation:
    """Holds the shared pieces (config, results folder, the dense-trained model) of one ablate run."""

    def __init__(self, cfg: AblateConfig, log=print):
        self.cfg, self.log = cfg, log
        self.out = new_results_dir(cfg.output)
        self.train_cfg = CompareConfig(datasets=(cfg.dataset,), epochs=cfg.epochs, batch_size=cfg.batch_size,
                                       lrs=(cfg.lr,), val_fraction=0.0, patience=0, seeds=1,
                                       train_subset=cfg.train_subset, test_subset=cfg.test_subset,
                                       output=str(self.out))
        self._dense = None
        self.batches = test_batches(create_model("smolmamba_tiny"), cfg.dataset, self.train_cfg)
        self.rows: list[AblationRow] = []

    @property
    def dense(self):
        """The dense-trained Spiking Mamba the zero-shot studies start from (trained on first use)."""
        if self._dense is None:
            self._dense, _ = self.train("spiking_mamba_tiny", "dense")
        return self._dense

    @property
    def seeds(self) -> range:
        """Seeds of the from-scratch studies (block, state)."""
        return range(self.cfg.seed, self.cfg.seed + self.cfg.seeds)

    def train(self, name: str, tag: str, epochs: int | None = None, init_from: Path | None = None,
              seed: int | None = None, **overrides):
        run_dir = self.out / "runs" / tag
        seed = self.cfg.seed if seed is None else seed
        run = train_one(name, self.cfg.dataset, seed, self.train_cfg, run_dir, epochs, init_from, **overrides)
        self.log(f"trained {tag} in {run.train_s:.0f} s")
        return run.model, run_dir

    def add(self, r: AblationRow) -> None:
        self.rows.append(r)
        self.log(f"{r.study:10s} {r.setting:34s} top-1 {r.top1:6.2f}%  energy {r.energy_uj:7.3f} uJ")

    def alignment(self) -> None:
        self.add(row("alignment", "dense", "dense (no pruning)", measure(self.dense, self.batches)))
        dense_ckpt = self.out / "runs" / "dense" / "last"
        for align in (True, False):
            label = "aligned" if align else "naive"
            zero = variant(self.dense, "smolmamba_tiny", pruner="sst_tp", align=align)
            self.add(row("alignment", f"{label}_zero_shot", f"{label}, zero-shot", measure(zero, self.batches)))
            tuned, _ = self.train("smolmamba_tiny", f"finetune_{label}", self.cfg.finetune_epochs, dense_ckpt,
                                  align=align)
            self.add(row("alignment", f"{label}_finetuned", f"{label}, fine-tuned {self.cfg.finetune_epochs} ep",
                         measure(tuned, self.batches)))

    def pruner(self) -> None:
        for name in PRUNERS:
            model = variant(self.dense, "smolmamba_tiny", pruner=name)
            self.add(row("pruner", name, f"{name}, zero-shot", measure(model, self.batches)))

    def weights(self) -> None:
        for pruner in ("sst_tp", "sst_tp_fixed"):
            model, _ = self.train("smolmamba_tiny", f"weights_{pruner}", pruner=pruner)
            learned = [[round(w, 4) for w in b.pruner.score.weights.tolist()] for b in model.blocks
                       if b.pruner is not None]
            learnable = pruner == "sst_tp"
            self.add(row("weights", "learnable" if learnable else "fixed",
                         "learnable alpha, beta" if learnable else "fixed alpha=beta=0.5",
                         measure(model, self.batches), alpha_beta_per_stage=learned))

    def dstsp(self) -> None:
        settings = {"dstp": ("temporal only (DSTP)", dict(spatial_prune_rate=0.0)),
                    "dssp": ("spatial only (DSSP)", dict(temporal_prune_rate=0.0)),
                    "dstsp": ("temporal + spatial (DSTSP)", {})}
        for key, (label, overrides) in settings.items():
            model, _ = self.train("smixer_tiny", "dstsp_" + key, **overrides)
            self.add(row("dstsp", key, label, measure(model, self.batches)))

    def deep(self) -> None:
        for first, last in DEEP_PRUNING:
            ratios = tuple(first + (last - first) * i / 3 for i in range(4))
            model = variant(self.dense, "smolmamba_tiny", pruner="sst_tp", keep_ratios=ratios)
            pruned = 1 - sum(ratios) / 4
            self.add(row("deep", f"keep_{first:g}_{last:g}", f"keep {first:g}->{last:g}", measure(model, self.batches),
                         tokens_pruned=pruned))

    def block(self) -> None:
        for seed in self.seeds:
            for key, (label, name, overrides) in BLOCK_VARIANTS.items():
                model, run_dir = self.train(name, f"block_{key}-seed{seed}", seed=seed, **overrides)
                self.add(row("block", key, label, measure(model, self.batches), seed=seed, **epoch_curve(run_dir)))

    def state(self) -> None:
        """d_state x expand of SmolMamba, and Spikformer trained the same way: energy at equal accuracy."""
        for seed in self.seeds:
            for d_state, expand in STATE_GRID:
                model, _ = self.train("smolmamba_tiny", f"state_n{d_state}_e{expand}-seed{seed}", seed=seed,
                                      d_state=d_state, expand=expand)
                self.add(state_row(f"n{d_state}_e{expand}", f"d_state {d_state}, expand {expand}", model,
                                   measure(model, self.batches), seed, d_state=d_state, expand=expand))
            model, _ = self.train("spikformer_tiny", f"state_spikformer-seed{seed}", seed=seed)
            self.add(state_row(SPIKFORMER_REFERENCE, "spikformer_tiny (reference, same recipe)", model,
                               measure(model, self.batches), seed))

    def write(self) -> Path:
        write_json_atomic(self.out / "ablations.json", {"config": dataclasses.asdict(self.cfg),
                                                        "rows": [r.to_json() for r in self.rows]})
        write_text_atomic(self.out / "ablations.md", "\n".join(ablations_markdown(self.rows)))
        for study in dict.fromkeys(r.study for r in self.rows):
            self.plot(study, seed_means([r for r in self.rows if r.study == study]))
        return self.out

    def plot(self, study: str, rows: list[SettingSummary]) -> None:
        from smolmamba.experiments import plots

        plots.ablation_bars(rows, f"ablation: {study} ({self.cfg.dataset})",
                            self.out / f"ablation_{study}.png")


def state_row(key: str, label: str, model, m: Measurement, seed: int, **extra) -> AblationRow:
    """A state-study row: strict and paper energy and the scan's share of the strict total."""
    scan = m.energy_by_kind.get("scan", {}).get("energy_uj", 0.0)
    return dataclasses.replace(row("state", key, label, m, seed, params=sum(p.numel() for p in model.parameters()),
                                   **extra), energy_uj_paper=m.energy_uj_paper, scan_share_strict=scan / m.energy_uj)


def epoch_curve(run_dir: Path) -> dict:
    """Training loss and accuracy per epoch from the run's metrics.csv (how fast it converged)."""
    import csv

    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return {"train_loss_per_epoch": [round(float(r["train_loss"]), 4) for r in rows],
            "train_acc_per_epoch": [round(float(r["train_acc"]), 2) for r in rows]}


def run_ablate(cfg: AblateConfig, log=print) -> Path:
    """Run the chosen studies; -> the results folder."""
    unknown = set(cfg.studies) - set(ALL_STUDIES)
    if unknown:
        raise ValueError(f"unknown ablation(s) {sorted(unknown)}; choose from {ALL_STUDIES}")
    if cfg.seeds < 1:
        raise ValueError(f"--seeds {cfg.seeds}: give at least 1 seed")
    start = time.perf_counter()
    ablation = Ablation(cfg, log)
    for study in cfg.studies:
        getattr(ablation, study)()
    out = ablation.write()
    log((out / "ablations.md").read_text())
    log(f"total {time.perf_counter() - start:.0f} s; wrote {out}")
    return out
