"""`smolmamba bench`: the profile's components add up, peak memory sees an allocation, targets are
judged from the figures, the generated doc section is replaced in place, the quick suite runs."""

import json
import subprocess
import sys

import pytest
import torch

from smolmamba.bench.measure import interleaved_times, summarise_times
from smolmamba.bench.profile import COMPONENTS, component_breakdown
from smolmamba.bench.report import BEGIN, END, evaluate_targets, render_markdown, update_doc
from smolmamba.bench.cases import VARIANTS, Case
from smolmamba.bench.suite import BenchConfig, dense_ops_per_image, run_bench, run_worker
from smolmamba.models import create_model
from smolmamba.models.summary import example_input


@pytest.mark.parametrize("name, prunes", [("smolmamba_tiny", True), ("spiking_mamba_tiny", False)])
def test_profile_components_add_up_to_the_forward(name, prunes):
    model = create_model(name)
    x = example_input(model.cfg, 2, torch.Generator().manual_seed(0))
    prof = component_breakdown(model, x)
    parts = prof["components"]
    assert set(parts) == set(COMPONENTS)
    assert sum(parts.values()) == pytest.approx(prof["total_ms"], rel=1e-6)  # exclusive times tile the pass
    for comp in ("patch_embed", "projections", "scan", "neurons", "mlp", "norms"):
        assert parts[comp] > 0, comp
    assert (parts["pruner"] > 0) == prunes
    assert 0 < prof["block_ms_mean"] < prof["total_ms"]


def test_profile_of_spikformer_has_no_scan():
    model = create_model("spikformer_tiny")
    prof = component_breakdown(model, example_input(model.cfg, 2))
    assert prof["components"]["scan"] == 0 and prof["components"]["mixer"] > 0


def test_cpu_peak_memory_sees_a_large_temporary():
    """In a fresh process, as the bench measures: memory that earlier tests freed to the allocator would be
    reused without raising the resident peak."""
    code = ("import torch; from smolmamba.bench.measure import cpu_peak_extra_mib; held = []; "
            "print(cpu_peak_extra_mib(lambda: held.append(torch.ones(64 * 2**20 // 4))))")  # 64 MiB, written
    extra = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 56 < extra < 200


def test_interleaved_times_and_summary():
    calls = []
    times = interleaved_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                              torch.device("cpu"), rounds=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up, then round-robin
    assert all(len(v) == 3 for v in times.values())
    s = summarise_times([0.1, 0.3, 0.2], batch=4)
    assert s["ms"] == pytest.approx(200.0) and s["img_per_s"] == pytest.approx(20.0)


def test_pruned_model_counts_fewer_operations():
    assert dense_ops_per_image("smolmamba_tiny") < dense_ops_per_image("spiking_mamba_tiny")


def _row(model, batch, mode, ms, peak):
    return {"model": model, "batch": batch, "mode": mode, "ms": ms, "img_per_s": batch / ms * 1e3,
            "peak_mib": peak, "group": "cifar", "ms_min": ms, "ms_max": ms}


def test_targets_are_judged_from_the_figures():
    results = {
        "config": {"quick": False},
        "ops": {"smolmamba_cifar": 3.0, "spiking_mamba_cifar": 3.6},  # predicts 1.2x
        "rows": [_row("smolmamba_cifar", 64, "inference", 1000, 100), _row("spiking_mamba_cifar", 64, "inference", 1100, 150),
                 _row("smolmamba_naive_cifar", 64, "inference", 950, 100),
                 _row("smolmamba_imagenet", 32, "inference", 800, 500), _row("spikformer_8_512", 32, "inference", 1000, 400),
                 _row("smolmamba_cifar", 64, "train", 900, 300), _row("spiking_mamba_cifar", 64, "train", 1200, 450)],
        "profiles": {"smolmamba_cifar": {"pruner_share_of_block": 0.02, "pruner_ms_per_call": 1.0,
                                         "block_ms_mean": 50.0, "batch": 64}},
    }
    got = {t["target"].split(" (")[0].split(",")[0]: t for t in evaluate_targets(results)}
    assert [t["key"] for t in evaluate_targets(results)][:3] == [
        "pruned_vs_dense_share_of_prediction", "pruned_vs_dense_speedup", "alignment_cost"]
    share = got["pruned vs dense speed-up"]
    assert share["measured"] == pytest.approx(1.1 / 1.2) and share["met"] is True
    assert got["pruned vs dense absolute speed-up"]["met"] is False
    align = got["alignment cost vs naive pruning"]
    assert align["measured"] == pytest.approx(0.05) and align["met"] is False
    assert got["pruner cost"]["met"] is True
    imagenet = got["smolmamba_imagenet vs spikformer_8_512 at batch 32: speed"]
    assert imagenet["measured"] == pytest.approx(1.25) and imagenet["met"] is False  # faster, more memory
    train = got["training step: dense / pruned time"]
    assert train["measured"] == pytest.approx(1200 / 900) and train["met"] is True


def test_lever_targets_compare_default_with_baseline_and_name_the_layer_floor():
    from smolmamba.bench.report import lever_targets

    row = dict(ms_min=0.0, ms_max=0.0, img_per_s=1.0, aten_ops_per_step=1, floor_ms=1.0)
    levers = {"rows": [{**row, "model": "m", "variant": "baseline", "ms": 500.0, "layer_floor_ms": 125.0},
                       {**row, "model": "m", "variant": "default", "ms": 250.0, "layer_floor_ms": 125.0}]}
    (target,) = lever_targets(levers)
    assert target["measured"] == pytest.approx(2.0) and target["met"] is False
    assert "allows at most 4.0x" in target["detail"]
    assert lever_targets(None) == []


def test_bf16_bound_stays_below_2x_while_the_layers_gain_less():
    from smolmamba.bench.float32_parts import bf16_bound
    from smolmamba.bench.report import lever_targets

    floors = {"layer_floor_ms": 40.0, "float32_layer_floor_ms": 60.0, "scan": 30.0, "lif": 20.0, "norms": 10.0,
              "optimizer": 1.0, "casts": 5.0}
    # 200 ms float32: 60 layers (-> 40 in bf16), 50 scan + LIF kept, 90 rest halved to 45
    assert bf16_bound(200.0, floors) == pytest.approx(200.0 / 135.0)
    assert bf16_bound(1e6, floors) < 2.0  # however large the rest: at most 2x from halving it
    no_scan = {**floors, "scan": 0.0, "lif": 0.0, "float32_layer_floor_ms": 80.0}
    assert bf16_bound(100.0, no_scan) == pytest.approx(100.0 / 50.0)  # layers 2x, the rest 2x
    row = dict(ms_min=0.0, ms_max=0.0, img_per_s=1.0, aten_ops_per_step=1, floor_ms=1.0)
    levers = {"rows": [{**row, "model": "m", "variant": "default", "ms": 200.0, "layer_floor_ms": 70.0},
                       {**row, "model": "m", "variant": "bf16", "ms": 160.0, "layer_floor_ms": 70.0}],
              "bf16_floors": {"m": floors}}
    (target,) = lever_targets(levers)
    assert target["measured"] == pytest.approx(1.25) and target["met"] is False
    assert "gain 1.50x" in target["detail"] and "at most 1.48x" in target["detail"]


def test_update_doc_replaces_only_the_generated_part(tmp_path):
    doc = tmp_path / "PERF.md"
    doc.write_text("# Performance\n\nhand-written intro\n")
    update_doc(doc, "table one\n", "smolmamba bench")
    first = doc.read_text()
    assert "hand-written intro" in first and "table one" in first and first.count(BEGIN) == 1
    doc.write_text(first + "\n## Later section\nkept\n")
    update_doc(doc, "table two\n", "smolmamba bench")
    text = doc.read_text()
    assert "table two" in text and "table one" not in text
    assert "hand-written intro" in text and "kept" in text
    assert text.count(BEGIN) == 1 and text.count(END) == 1


def test_memory_worker_measures_a_fresh_process():
    case = Case("smolmamba_tiny", 4, "train")
    peak = run_worker(["memory", json.dumps(case.as_dict()), "2"])["peak_mib"]
    assert 1 < peak < 2000


def test_worker_failure_names_the_cause():
    with pytest.raises(RuntimeError, match="bench worker memory failed"):
        run_worker(["memory", json.dumps(Case("no_such_model", 1).as_dict()), "2"])


def test_quick_suite_end_to_end(tmp_path):
    cfg = BenchConfig(quick=True, rounds=1, threads=2, memory=False)  # memory: the worker test above
    results = run_bench(cfg, tmp_path, log=lambda *_: None)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert {r["model"] for r in saved["rows"]} == {"smolmamba_tiny", "spiking_mamba_tiny", "smolmamba_naive_tiny",
                                                   "spikformer_tiny", "smixer_tiny"}
    assert {(r["mode"], r["batch"]) for r in saved["rows"]} == {("inference", 1), ("inference", 8), ("train", 8)}
    assert all(r["img_per_s"] > 0 and r["peak_mib"] is None for r in saved["rows"])
    assert {t["target"].split(" (")[0] for t in saved["targets"]} >= {"alignment cost vs naive pruning"}
    md = (tmp_path / "bench.md").read_text()
    assert "smolmamba_tiny" in md and "Where the time goes" in md and md == render_markdown(results)


def test_levers_table_one_model(tmp_path):
    from smolmamba.bench.levers import levers_markdown, ops_per_step, run_levers
    from smolmamba.bench.suite import dense_ops_per_image, run_worker

    cfg = BenchConfig(rounds=1, threads=2, levers_only=True).resolved()
    assert cfg.groups == [] and cfg.train
    levers = run_levers(("smixer_tiny",), cfg, {"smixer_tiny": dense_ops_per_image("smixer_tiny")}, run_worker,
                        lambda *_: None)
    rows = {r["variant"]: r for r in levers["rows"]}
    assert set(rows) == set(VARIANTS)
    assert all(r["ms"] > 0 and r["floor_ms"] > 0 and r["layer_floor_ms"] > 0 for r in rows.values())
    assert levers["layer_floors"]["smixer_tiny"]["calls"] > 0
    # the fused LIF replaces ~5 aten ops per step of every LIF call: fewer ops dispatched than the baseline
    assert rows["numba_lif"]["aten_ops_per_step"] < rows["baseline"]["aten_ops_per_step"]
    assert levers["sgemm_gflops"] > 0
    floors = levers["bf16_floors"]["smixer_tiny"]
    assert floors["layer_floor_ms"] > 0 and floors["lif"] > 0 and floors["norms"] > 0 and floors["optimizer"] > 0
    assert floors["float32_layer_floor_ms"] > 0
    assert floors["scan"] == 0  # SMixer has no scan
    text = "\n".join(levers_markdown(levers))
    assert "| smixer_tiny | baseline |" in text and "1.00x" in text and "time / layer floor" in text
    assert "| smixer_tiny | bf16_convs_split |" in text and "The bf16 path's floor" in text
    assert "most speed-up if all the rest halves" in text
    with pytest.raises(ValueError, match="bench variant"):
        ops_per_step(Case("smixer_tiny", 2, "train", variant="turbo"))


def test_bench_command_is_rebuilt_from_the_parsed_options():
    from smolmamba.cli import build_parser
    from smolmamba.cli_experiments import bench_command

    args = build_parser().parse_args(["bench", "--quick", "--no-memory", "--out", "o dir", "--doc", "d.md"])
    assert bench_command(args) == ("smolmamba bench --quick --no-memory --device cpu --threads 2 --rounds 5 "
                                   "--out 'o dir' --doc d.md")
    assert not hasattr(args, "argv")


def test_energy_flags_default_to_the_energy_constants():
    from smolmamba.cli import build_parser
    from smolmamba.energy import E_AC_PJ, E_MAC_PJ

    args = build_parser().parse_args(["energy", "--model", "smolmamba_tiny"])
    assert (args.e_mac, args.e_ac) == (E_MAC_PJ, E_AC_PJ)
