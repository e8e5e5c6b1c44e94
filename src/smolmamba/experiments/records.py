"""What `compare` hands to `report` and the plots: typed records of a measured model, a trained and measured
run, the per-model summary over seeds, an lr-search row and a keep-ratio sweep point.

JSON only at the edge: each record has one to_json/from_json pair that writes the keys results.json has
always had, so results files of older versions still read (fields they lack read as None)."""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from smolmamba.experiments.config import CompareConfig
from smolmamba.experiments.stats import mean_interval

CONVENTIONS = ("strict", "paper")  # energy conventions of docs/ENERGY.md
PEERS = ("spikformer", "spiking_mamba")  # the roles SmolMamba's energy is compared against


def _pick(cls, data: dict) -> dict:
    """The keys of `data` that are fields of the record class (missing ones are left to the defaults)."""
    return {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}


@dataclass(frozen=True)
class Measurement:
    """One trained model measured on the test batches (experiments/measure.py); energy per image."""

    top1: float
    params: int
    mean_firing_rate: float
    tokens_per_stage: tuple[int, ...]  # tokens kept after each pruning stage (one entry: no pruning)
    macs: float  # strict convention
    acs: float
    energy_uj: float  # strict convention
    energy_uj_paper: float
    img_per_s: float
    test_images: int | None = None
    macs_paper: float | None = None
    acs_paper: float | None = None
    energy_by_kind: dict | None = None  # {kind: {"macs", "acs", "energy_uj"}} of the strict report

    @classmethod
    def from_json(cls, data: dict) -> Measurement:
        fields = _pick(cls, data)
        return cls(**{**fields, "tokens_per_stage": tuple(fields["tokens_per_stage"])})


@dataclass(frozen=True)
class RunRow:
    """One (data set, role, seed) run of `compare`: how it was trained and what it measured."""

    dataset: str
    role: str
    model: str  # the registered model that played the role
    seed: int
    lr: float
    train_s: float
    epochs_run: int
    best_val_top1: float | None  # None without a validation split
    early_stopped: bool
    val_curve: tuple[float, ...]  # validation top-1 per epoch (empty without a split)
    measured: Measurement
    run_dir: str | None = None  # its checkpoints, relative to the results folder (None in older files)

    @property
    def top1(self) -> float:
        return self.measured.top1

    def label(self) -> str:
        return f"{self.model} seed {self.seed}"

    def to_json(self) -> dict:
        trained = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "measured"}
        return {**trained, "val_curve": list(self.val_curve), **dataclasses.asdict(self.measured),
                "tokens_per_stage": list(self.measured.tokens_per_stage)}

    @classmethod
    def from_json(cls, data: dict) -> RunRow:
        return cls(data["dataset"], data["role"], data["model"], int(data["seed"]), data.get("lr"),
                   data.get("train_s"), data.get("epochs_run"), data.get("best_val_top1"),
                   bool(data.get("early_stopped")), tuple(data.get("val_curve") or ()), Measurement.from_json(data),
                   data.get("run_dir"))


@dataclass(frozen=True)
class SummaryRow:
    """One model on one data set over its seeds: means, spread and the 95 % interval of top-1."""

    dataset: str
    role: str
    model: str
    seeds: int
    top1_mean: float
    top1_std: float
    top1_ci95: tuple[float, float] | None  # None: one seed, no interval
    top1_by_seed: dict[int, float]
    params: int
    mean_firing_rate: float
    tokens_per_stage: tuple[int, ...]
    macs: float
    acs: float
    energy_uj: float
    energy_uj_paper: float
    img_per_s: float
    train_s: float | None
    lr: float | None
    epochs_run: tuple[int, ...]
    val_top1_mean: float | None

    def energy(self, convention: str) -> float:
        """Mean energy per image in µJ under `convention` ("strict" or "paper")."""
        return {"strict": self.energy_uj, "paper": self.energy_uj_paper}[convention]

    @classmethod
    def of_runs(cls, runs: list[RunRow]) -> SummaryRow:
        """Mean and spread over the runs of one (data set, role)."""
        first, accs = runs[0], [r.top1 for r in runs]
        mean = lambda get: statistics.fmean(get(r) for r in runs)  # noqa: E731
        interval = mean_interval(accs)
        vals = [r.best_val_top1 for r in runs]
        return cls(first.dataset, first.role, first.model, len(runs), statistics.fmean(accs),
                   statistics.stdev(accs) if len(accs) > 1 else 0.0,
                   (interval.lo, interval.hi) if interval.n > 1 else None, {r.seed: r.top1 for r in runs},
                   first.measured.params, mean(lambda r: r.measured.mean_firing_rate),
                   first.measured.tokens_per_stage, mean(lambda r: r.measured.macs), mean(lambda r: r.measured.acs),
                   mean(lambda r: r.measured.energy_uj), mean(lambda r: r.measured.energy_uj_paper),
                   mean(lambda r: r.measured.img_per_s), mean(lambda r: r.train_s), first.lr,
                   tuple(r.epochs_run for r in runs), None if None in vals else statistics.fmean(vals))

    @classmethod
    def from_json(cls, data: dict) -> SummaryRow:
        fields = {**dict.fromkeys(("top1_ci95", "train_s", "lr", "val_top1_mean")), **_pick(cls, data)}
        ci = fields["top1_ci95"]
        by_seed = {int(k): v for k, v in (fields.get("top1_by_seed") or {}).items()}
        return cls(**{**fields, "top1_ci95": tuple(ci) if ci and ci[0] is not None and fields["seeds"] > 1 else None,
                      "top1_by_seed": by_seed, "tokens_per_stage": tuple(fields["tokens_per_stage"]),
                      "epochs_run": tuple(fields.get("epochs_run") or ())})


@dataclass(frozen=True)
class Comparison:
    """The summary rows of one or more compare runs, and the energy ratios between their models."""

    rows: tuple[SummaryRow, ...]

    def find(self, dataset: str, role: str) -> SummaryRow | None:
        return next((r for r in self.rows if r.dataset == dataset and r.role == role), None)

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(r.dataset for r in self.rows))

    def energy_ratio(self, row: SummaryRow, peer: str, convention: str = "strict") -> float | None:
        """peer's energy / row's energy on row's data set (how many times less `row` spends); None: no peer."""
        ref = self.find(row.dataset, peer)
        return None if ref is None else ref.energy(convention) / row.energy(convention)

    def to_json(self) -> list[dict]:
        """The rows as results.json writes them, with each ratio as energy_ratio_vs_<peer>[_paper]."""
        out = []
        for r in self.rows:
            row = {**dataclasses.asdict(r), "top1_ci95": list(r.top1_ci95) if r.top1_ci95 else [None, None],
                   "tokens_per_stage": list(r.tokens_per_stage), "epochs_run": list(r.epochs_run)}
            for peer in PEERS:
                for convention, suffix in zip(CONVENTIONS, ("", "_paper")):
                    row[f"energy_ratio_vs_{peer}{suffix}"] = self.energy_ratio(r, peer, convention)
            out.append(row)
        return out

    @classmethod
    def from_json(cls, rows: list[dict]) -> Comparison:
        return cls(tuple(SummaryRow.from_json(r) for r in rows))


def summarise(runs: list[RunRow]) -> Comparison:
    """One SummaryRow per (data set, role), in first-seen order."""
    groups: dict[tuple[str, str], list[RunRow]] = {}
    for r in runs:
        groups.setdefault((r.dataset, r.role), []).append(r)
    return Comparison(tuple(SummaryRow.of_runs(rs) for rs in groups.values()))


@dataclass(frozen=True)
class LrSearchRow:
    """Seed 0 of one model trained at one lr of the grid."""

    dataset: str
    role: str
    model: str
    lr: float
    val_top1: float | None
    epochs_run: int
    train_s: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> LrSearchRow:
        return cls(**_pick(cls, data))


@dataclass(frozen=True)
class SweepPoint:
    """The trained SmolMamba measured zero-shot at scaled keep ratios (or with pruning off)."""

    dataset: str
    setting: str  # "off" or "x<scale>"
    keep_ratios: tuple[float, ...]
    top1: float
    energy_uj: float
    energy_uj_paper: float
    tokens_per_stage: tuple[int, ...]

    @property
    def mean_keep(self) -> float:
        return sum(self.keep_ratios) / len(self.keep_ratios)

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "keep_ratios": list(self.keep_ratios), "mean_keep": self.mean_keep,
                "tokens_per_stage": list(self.tokens_per_stage)}

    @classmethod
    def from_json(cls, data: dict) -> SweepPoint:
        fields = {"energy_uj_paper": None, "tokens_per_stage": (), **_pick(cls, data)}
        return cls(**{**fields, "keep_ratios": tuple(fields["keep_ratios"]),
                      "tokens_per_stage": tuple(fields["tokens_per_stage"] or ())})


def config_from_json(data: dict) -> CompareConfig:
    """The CompareConfig recorded in a results file. A key an older version did not record takes the value
    that version ran with (patience counted from the start, augmentation on, no validation split, float32), and a
    key this version no longer has is dropped."""
    older = {"protocol": "not recorded", "patience_from": 0.0, "augment": True, "val_fraction": 0.0, "amp": "none",
             "lrs": (data["lr"],) if "lr" in data else CompareConfig.lrs}
    fields = {**older, **_pick(CompareConfig, data), "resume": False}  # a resumed run's results describe the run
    tuples = {f.name for f in dataclasses.fields(CompareConfig) if str(f.type).startswith("tuple")}
    return CompareConfig(**{k: tuple(v) if k in tuples else v for k, v in fields.items()})


@dataclass(frozen=True)
class CompareResults:
    """A compare folder's results.json."""

    config: CompareConfig
    complete: bool  # False: the run was stopped (or is still going); the rows are what it measured so far
    runs: tuple[RunRow, ...]
    comparison: Comparison
    lr_search: tuple[LrSearchRow, ...]
    sweep: tuple[SweepPoint, ...]
    elapsed_s: float
    energy_pj: tuple[float, float] | None  # (E_MAC, E_AC); None in files that did not record them
    torch: str
    remeasured: str | None = None  # when `smolmamba remeasure` measured the trained weights again, and why

    def to_json(self) -> dict:
        return {"config": dataclasses.asdict(self.config), "complete": self.complete,
                "runs": [r.to_json() for r in self.runs], "summary": self.comparison.to_json(),
                "lr_search": [r.to_json() for r in self.lr_search],
                "keep_ratio_sweep": [p.to_json() for p in self.sweep], "elapsed_s": self.elapsed_s,
                "energy_pj": None if self.energy_pj is None else dict(zip(("mac", "ac"), self.energy_pj)),
                "torch": self.torch, "remeasured": self.remeasured}

    @classmethod
    def from_json(cls, data: dict) -> CompareResults:
        energy = data.get("energy_pj")
        return cls(config_from_json(data["config"]), bool(data.get("complete", True)),
                   tuple(RunRow.from_json(r) for r in data["runs"]), Comparison.from_json(data["summary"]),
                   tuple(LrSearchRow.from_json(r) for r in data.get("lr_search") or ()),
                   tuple(SweepPoint.from_json(p) for p in data.get("keep_ratio_sweep") or ()),
                   data.get("elapsed_s", 0.0), None if energy is None else (energy["mac"], energy["ac"]),
                   data.get("torch", "not recorded"), data.get("remeasured"))

    @classmethod
    def read(cls, folder: Path) -> CompareResults:
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: no results.json there; pass a folder written by `smolmamba compare`")
        return cls.from_json(json.loads(path.read_text()))
