"""Bad input gets a clear error naming the problem and the fix: ValueError/FileNotFoundError from the
API, exit code 2 and one message (no traceback) from the CLI. One test per case of issue 9; the table
in docs/RELIABILITY.md lists the messages."""

import json
import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch

from smolmamba import cli
from smolmamba.data import build_dataset
from smolmamba.data.aedat import CorruptEventFile
from smolmamba.models import create_model
from smolmamba.train import checkpoint as ckpt
from smolmamba.train import loop
from smolmamba.train.config import load_config

CONFIG = Path(__file__).parents[1] / "configs" / "digits_smolmamba_tiny.yaml"
SMALL = dict(embed_dim=16, depth=2, keep_ratios=(0.7, 0.5))  # a fast smolmamba_tiny


def small_overrides(output, **extra) -> list[str]:
    opts = {"train_subset": 32, "batch_size": 16, "epochs": 1, "tensorboard": False, "output": str(output),
            **extra}
    return [f"{k}={v}" for k, v in opts.items()] + ["model.embed_dim=16", "model.depth=2",
                                                    "model.keep_ratios=[0.7,0.5]"]


def run_cli(capsys, *argv) -> tuple[int, str]:
    """-> (exit code, stderr); argparse errors (SystemExit) count as their code."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


@pytest.fixture(scope="module")
def tiny():
    return create_model("smolmamba_tiny", **SMALL).eval()


@pytest.fixture(scope="module")
def tiny_events():
    return create_model("smolmamba_tiny_events", **SMALL).eval()


@pytest.fixture
def saved(tmp_path):
    """A checkpoint folder of the small smolmamba_tiny (untrained)."""
    model = create_model("smolmamba_tiny", **SMALL)
    return ckpt.save_checkpoint(tmp_path / "ck", model, "smolmamba_tiny", {"epoch": 0, "step": 0})


# ---------------------------------------------------------------- model inputs


def test_wrong_image_channels(tiny):
    with pytest.raises(ValueError, match=r"images have 3 channels, the model expects in_chans=1"):
        tiny(torch.zeros(2, 3, 16, 16))


def test_wrong_image_size(tiny):
    with pytest.raises(ValueError, match=r"input size \(32x32\) doesn't match the model \(16x16\).*img_size=32"):
        tiny(torch.zeros(2, 1, 32, 32))


def test_wrong_image_rank(tiny):
    with pytest.raises(ValueError, match=r"images must be \[B, C, H, W\]"):
        tiny(torch.zeros(1, 16, 16))


def test_event_frames_wrong_polarity(tiny_events):
    with pytest.raises(ValueError, match=r"3 polarity channels at dim 2, the model expects 2"):
        tiny_events(torch.zeros(2, 4, 3, 16, 16))


def test_event_frames_wrong_T(tiny_events):
    with pytest.raises(ValueError, match=r"T=6 time bins, the model was built for T=4.*time_steps=6"):
        tiny_events(torch.zeros(2, 6, 2, 16, 16))


def test_images_given_to_event_model(tiny_events):
    with pytest.raises(ValueError, match=r"event frames must be \[B, T, 2, H, W\]"):
        tiny_events(torch.zeros(2, 2, 16, 16))


def test_integer_empty_and_mismatched_inputs(tiny):
    with pytest.raises(ValueError, match=r"floating tensor, got dtype torch.uint8; convert with x.float\(\)"):
        tiny(torch.zeros(2, 1, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"input batch is empty"):
        tiny(torch.zeros(0, 1, 16, 16))
    with pytest.raises(ValueError, match=r"input dtype torch.float64 differs from the model's torch.float32"):
        tiny(torch.zeros(2, 1, 16, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"input must be a torch.Tensor, got ndarray"):
        tiny(np.zeros((2, 1, 16, 16), np.float32))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_rejected_in_eval_by_default(tiny, value):
    x = torch.zeros(2, 1, 16, 16)
    x[1, 0, 3, 4] = value
    assert tiny.check_finite is None and not tiny.training
    with pytest.raises(ValueError, match=r"input holds 1 NaN/inf value\(s\) of 512.*check_finite = False"):
        tiny(x)


def test_non_finite_check_flag():
    model = create_model("smolmamba_tiny", **SMALL)
    x = torch.full((2, 1, 16, 16), float("nan"))
    model.train()
    model(x)  # default: no check in training (no extra pass over every batch)
    model.check_finite = True
    with pytest.raises(ValueError, match="NaN/inf"):
        model(x)
    model.eval()
    model.check_finite = False
    assert model(x).shape == (2, 10)
    model.check_finite = None
    big = torch.full((2, 1, 16, 16), 3e38)  # finite values whose float32 sum overflows: accepted
    assert model(big).shape == (2, 10)


# ---------------------------------------------------------------- model configuration


def test_patch_size_not_dividing_image():
    with pytest.raises(ValueError, match=r"img_size=18 is not divisible by patch_size=4"):
        create_model("smolmamba_tiny", img_size=18, patch_size=4)
    with pytest.raises(ValueError, match=r"patch_size must be a power of two"):
        create_model("smolmamba_tiny", patch_size=3)


@pytest.mark.parametrize("ratios", [(1.2, 0.5), (0.8, 0.0), (0.8, -0.1)])
def test_keep_ratios_outside_unit_interval(ratios):
    with pytest.raises(ValueError, match=r"keep_ratios must lie in \(0, 1\]"):
        create_model("smolmamba_tiny", depth=2, keep_ratios=ratios)


def test_keep_ratios_increasing():
    with pytest.raises(ValueError, match=r"keep_ratios must not increase from stage to stage"):
        create_model("smolmamba_tiny", depth=2, keep_ratios=(0.5, 0.8))


@pytest.mark.parametrize("T", [0, -1])
def test_time_steps_below_one(T):
    with pytest.raises(ValueError, match=rf"time_steps must be >= 1, got {T}"):
        create_model("smolmamba_tiny", time_steps=T)


def test_unknown_model_suggests_closest():
    with pytest.raises(ValueError, match=r"unknown model 'smolmamba_tinny'; closest: \['smolmamba_tiny'"):
        create_model("smolmamba_tinny")


def test_unknown_model_option():
    with pytest.raises(ValueError, match=r"unknown model option\(s\) \['embed_dims'\]"):
        create_model("smolmamba_tiny", embed_dims=32)


def test_unknown_dataset_suggests_closest():
    with pytest.raises(ValueError, match=r"unknown dataset 'digitz'.*Did you mean 'digits'\?"):
        build_dataset("digitz")


def test_unknown_config_key_named():
    with pytest.raises(ValueError, match=r"unknown option\(s\) in command-line overrides: 'epoch' "
                                         r"\(did you mean 'epochs'\?\)"):
        load_config(CONFIG, ["epoch=3"])


def test_unknown_config_key_in_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: smolmamba_tiny\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match=rf"unknown option\(s\) in {path}: 'learning_rate'"):
        load_config(path)


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_of_other_classes_lists_shapes(saved):
    other = create_model("smolmamba_tiny", **SMALL, num_classes=5)
    with pytest.raises(ValueError, match=r"does not fit this model") as err:
        ckpt.load_weights(saved, other)
    assert "head.weight: checkpoint (10, 16) vs model (5, 16)" in str(err.value)
    assert "head.bias: checkpoint (10,) vs model (5,)" in str(err.value)


def test_checkpoint_of_other_architecture_lists_keys(saved):
    other = create_model("spikformer_tiny")
    with pytest.raises(ValueError, match=r"(?s)missing keys \(\d+\): .*unexpected keys \(\d+\): .*"
                                         r"shape mismatches") as err:
        ckpt.load_weights(saved, other)
    assert "... and" in str(err.value)  # long lists are cut


def test_truncated_checkpoint_detected_by_hash(saved):
    weights = saved / ckpt.MODEL_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    model = create_model("smolmamba_tiny", **SMALL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"corrupted or truncated: file model.safetensors hash mismatch"):
        ckpt.load_weights(saved, model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # never loaded half


def test_corrupted_checkpoint_byte_flip(saved):
    state = saved / ckpt.STATE_FILE
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF
    state.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"trainer_state.pt hash mismatch"):
        ckpt.load_trainer_state(saved)


def test_unreadable_manifest(saved):
    (saved / ckpt.MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match=r"unreadable manifest.json"):
        ckpt.load_model(saved)


def test_manifest_cannot_point_outside(saved):
    manifest = json.loads((saved / ckpt.MANIFEST).read_text())
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (saved / ckpt.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"not a plain file name; refusing to read outside"):
        ckpt.read_manifest(saved)


def test_missing_checkpoint_and_run_folder(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*manifest.json"):
        ckpt.load_model(tmp_path / "nope")
    shutil.copytree(saved, tmp_path / "run" / "last")
    with pytest.raises(ValueError, match=r"is a run folder; pass the checkpoint inside it"):
        ckpt.load_model(tmp_path / "run")


# ---------------------------------------------------------------- data folders


def test_data_dir_wrong_layout_shows_tree(tmp_path):
    (tmp_path / "cats").mkdir()  # classes at the top, no train/ and val/
    with pytest.raises(FileNotFoundError, match=r"image folder .*train does not exist; expected:\n") as err:
        build_dataset("imagefolder", root=tmp_path, split="train")
    assert "<class_a>/img1.JPEG" in str(err.value)


def test_cifar_wrong_layout_lists_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10 not found: expected .*cifar-10-batches-py.*"
                                                r"data_batch_1.*Nothing is downloaded"):
        build_dataset("cifar10", root=tmp_path)


def test_empty_class_folder(tmp_path):
    from PIL import Image

    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "train" / "b").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "a" / "x.png")
    with pytest.raises(FileNotFoundError, match=r"class folder\(s\) \['b'\] in .* hold no images"):
        build_dataset("imagefolder", root=tmp_path, split="train")


def test_corrupt_event_file_named(tmp_path):
    from smolmamba.data.cifar10_dvs import CLASSES

    for name in CLASSES:
        folder = tmp_path / "events_np" / name
        folder.mkdir(parents=True)
        np.savez(folder / f"cifar10_{name}_0.npz", t=np.zeros(1), x=np.zeros(1), y=np.zeros(1), p=np.zeros(1))
    bad = tmp_path / "events_np" / "airplane" / "cifar10_airplane_0.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(CorruptEventFile, match=rf"{bad}: unreadable .npz"):
        build_dataset("cifar10_dvs", root=tmp_path, split="test", on_bad_file="fail")


def test_corrupt_aedat_file_named(tmp_path):
    from smolmamba.data.cifar10_dvs import read_cifar10_dvs

    bad = tmp_path / "cifar10_cat_3.aedat"
    bad.write_bytes(b"#!AER-DAT2.0\r\n" + b"\x01\x02\x03")  # a record cut short
    with pytest.raises(ValueError, match=rf"{bad}: .*Re-copy or re-download this file"):
        read_cifar10_dvs(bad)


# ---------------------------------------------------------------- output folder, checked at start


@pytest.fixture
def no_build(monkeypatch):
    """Fail loudly if training gets as far as building data: output checks must come first."""
    def build(cfg):
        raise AssertionError("output folder was not checked before building model and data")
    monkeypatch.setattr(loop, "build_model_and_data", build)


def test_unwritable_output_detected_at_start(tmp_path, no_build):
    blocker = tmp_path / "file"
    blocker.write_text("a regular file, not a folder")
    cfg = load_config(CONFIG, small_overrides(blocker / "run"))
    with pytest.raises(ValueError, match=rf"cannot be created: {blocker} is a file, not a folder; "
                                         r"choose another output"):
        loop.main(cfg)


def test_out_of_disk_detected_at_start(tmp_path, no_build, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda path: Usage(10 * 2**20, 9 * 2**20, 2**20))
    with pytest.raises(ValueError, match=r"has 1.0 MiB free, the run needs about 64.0 MiB"):
        loop.main(load_config(CONFIG, small_overrides(tmp_path / "run")))


def test_disk_estimate_follows_the_model(tmp_path, monkeypatch):
    model = create_model("smolmamba_tiny", **SMALL)
    need = 3 * ckpt.checkpoint_bytes(model)
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(loop, "MIN_FREE_BYTES", 0)
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda path: Usage(need, 0, need - 1))
    with pytest.raises(ValueError, match=r"MiB free, the run needs about"):
        loop.main(load_config(CONFIG, small_overrides(tmp_path / "run")))
    assert not (tmp_path / "run" / "last").exists()


def test_names_checked_before_folders_are_made(tmp_path):
    with pytest.raises(ValueError, match=r"unknown model '\.\./\.\./escape'"):
        loop.main(load_config(CONFIG, small_overrides(tmp_path / "run", model="../../escape")))
    with pytest.raises(ValueError, match=r"unknown dataset 'digits/\.\./x'"):
        loop.main(load_config(CONFIG, small_overrides(tmp_path / "run", dataset="digits/../x")))
    assert not (tmp_path / "run").exists()


def test_compare_role_cannot_escape_results(tmp_path):
    from smolmamba.experiments.compare import CompareConfig, run_compare

    out = tmp_path / "a" / "b" / "results"
    cfg = CompareConfig(roles=("../../../../../escape",), datasets=("digits",), epochs=1, train_subset=16,
                        sweep=False, masks=False, output=str(out))
    with pytest.raises(ValueError, match="unknown model"):
        run_compare(cfg, log=lambda *a: None)
    made = [p for p in tmp_path.rglob("*")]
    assert all(out in p.parents or p == out or p in out.parents for p in made), made


# ---------------------------------------------------------------- the same through the CLI: exit 2


def test_cli_unknown_model(capsys):
    code, err = run_cli(capsys, "smoke", "--model", "smolmamba_tinny")
    assert code == 2 and err.startswith("smolmamba smoke: error: unknown model 'smolmamba_tinny'")
    assert "'smolmamba_tiny'" in err and err.count("\n") == 1


def test_cli_unknown_dataset(capsys):
    code, err = run_cli(capsys, "energy", "--model", "smolmamba_tiny", "--data", "digitz")
    assert code == 2 and "Did you mean 'digits'?" in err


def test_cli_unknown_config_key(capsys, tmp_path):
    code, err = run_cli(capsys, "train", "--config", CONFIG, *small_overrides(tmp_path / "r"), "epoch=3")
    assert code == 2 and "'epoch' (did you mean 'epochs'?)" in err
    assert not (tmp_path / "r").exists()


def test_cli_bad_config_values(capsys, tmp_path):
    code, err = run_cli(capsys, "train", "--config", CONFIG, "epochs=many")
    assert code == 2 and "option epochs must be int, got 'many'" in err
    code, err = run_cli(capsys, "train", "--config", tmp_path / "missing.yaml")
    assert code == 2 and "missing.yaml" in err
    broken = tmp_path / "broken.yaml"
    broken.write_text("epochs: [1, 2\n")
    code, err = run_cli(capsys, "train", "--config", broken)
    assert code == 2 and "is not valid YAML" in err
    code, err = run_cli(capsys, "train", "--config", CONFIG, "epochs")
    assert code == 2 and "is not key=value" in err


def test_cli_model_config_errors(capsys, tmp_path):
    for flag, text in [("model.keep_ratios=[0.5,0.8]", "must not increase"),
                       ("model.keep_ratios=[1.5,0.5]", "must lie in (0, 1]"),
                       ("model.time_steps=0", "time_steps must be >= 1"),
                       ("model.patch_size=3", "patch_size must be a power of two")]:
        code, err = run_cli(capsys, "train", "--config", CONFIG, *small_overrides(tmp_path / "r"), flag)
        assert code == 2 and text in err, (flag, err)


def test_cli_truncated_checkpoint(capsys, saved):
    weights = saved / ckpt.MODEL_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    code, err = run_cli(capsys, "eval", "--checkpoint", saved, "--data", "digits")
    assert code == 2 and "hash mismatch" in err


def test_cli_resume_from_other_architecture(capsys, tmp_path, saved):
    code, err = run_cli(capsys, "train", "--config", CONFIG, *small_overrides(tmp_path / "r"),
                        "model.embed_dim=32", f"resume={saved}")
    assert code == 2 and "does not fit this model" in err and "shape mismatches" in err


def test_cli_data_layout(capsys, tmp_path):
    code, err = run_cli(capsys, "energy", "--model", "smolmamba_tiny", "--data", "imagefolder",
                        "--data-root", tmp_path)
    assert code == 2 and "expected:" in err and "<class_a>/img1.JPEG" in err


def test_cli_unwritable_output(capsys, tmp_path, no_build):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = run_cli(capsys, "train", "--config", CONFIG, *small_overrides(blocker / "run"))
    assert code == 2 and "is a file, not a folder" in err


def test_cli_out_of_disk(capsys, tmp_path, no_build, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda path: Usage(2**30, 2**30, 0))
    code, err = run_cli(capsys, "train", "--config", CONFIG, *small_overrides(tmp_path / "run"))
    assert code == 2 and "0.0 MiB free" in err


def test_cli_unwritable_json_output(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = run_cli(capsys, "energy", "--model", "smolmamba_tiny", "--batches", "1", "--batch-size", "2",
                        "--convention", "strict", "--json", blocker / "out.json")
    assert code == 2 and "smolmamba energy: error:" in err


def test_cli_argparse_errors_exit_2(capsys):
    code, err = run_cli(capsys, "eval", "--data", "digits")  # --checkpoint missing
    assert code == 2 and "--checkpoint" in err


# ---------------------------------------------------------------- no network at run time

BLOCK_SOCKETS = '''
import socket

def _refuse(*args, **kwargs):
    raise OSError("network access blocked by the smolmamba no-network test")

_connect = socket.socket.connect
def _connect_local(self, address, *args):
    if self.family == getattr(socket, "AF_UNIX", None):
        return _connect(self, address, *args)
    _refuse()

socket.socket.connect = _connect_local
socket.socket.connect_ex = lambda self, *a: _refuse()
socket.socket.sendto = lambda self, *a: _refuse()
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
'''


@pytest.mark.slow
def test_cli_runs_with_sockets_blocked(tmp_path):
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_SOCKETS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": ""}

    def run(*argv):
        return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=120)

    probe = run("-c", "import socket; socket.create_connection(('example.com', 80))")
    assert probe.returncode != 0 and "network access blocked" in probe.stderr  # the block works
    code = ("import sys; from smolmamba import cli; "
            "sys.exit(max(cli.main(a) for a in [['models'], ['train', '--config', sys.argv[1]] + sys.argv[2:], "
            "['energy', '--model', 'smolmamba_tiny', '--batches', '1', '--batch-size', '8']]))")
    done = run("-c", code, str(CONFIG), *small_overrides(tmp_path / "run", max_steps=2))
    assert done.returncode == 0, done.stderr
    assert "smolmamba_tiny" in done.stdout and "total per image" in done.stdout
    assert (tmp_path / "run" / "last" / "manifest.json").is_file()
    assert "network access blocked" not in done.stderr


# ---------------------------------------------------------------- memory soak


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["plain", "energy"])
def test_eval_stream_keeps_rss_flat(mode):
    """600 batches of 2 images 16x16 after 60 warm-up ones: RSS grows < 5 % (full run: benchmarks/soak_eval.py)."""
    import importlib.util

    path = Path(__file__).parents[1] / "benchmarks" / "soak_eval.py"
    spec = importlib.util.spec_from_file_location("soak_eval", path)
    soak_eval = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak_eval)
    res = soak_eval.soak(mode, batches=600, batch_size=2, warmup=60, samples=5, **SMALL)
    assert res["growth_pct"] < 5.0, res["trace"]
    if mode == "energy":
        assert res["energy_images"] == 2 * 660
