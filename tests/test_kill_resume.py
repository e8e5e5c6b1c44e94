"""Runs survive being killed: SIGKILL at random moments then resume=auto ends with the weights of an
uninterrupted run; SIGTERM/SIGINT save last/ and exit 143/130 saying how to resume."""

import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from smolmamba import cli
from smolmamba.train import checkpoint as ckpt
from smolmamba.train import epoch, loop
from smolmamba.train.config import load_config

CONFIG = Path(__file__).parents[1] / "configs" / "digits_smolmamba_tiny.yaml"
# 48 samples / batch 16 = 3 steps per epoch, 3 epochs; augmentation on so the RNG state must survive
OPTIONS = ["train_subset=48", "batch_size=16", "epochs=3", "save_every=1", "augment=true", "tensorboard=false",
           "model.embed_dim=16", "model.depth=2", "model.keep_ratios=[0.7,0.5]"]
TIMEOUT = 120  # per training process
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def train_cmd(output, *extra) -> list[str]:
    return [sys.executable, "-m", "smolmamba.cli", "train", "--config", str(CONFIG), *OPTIONS,
            f"output={output}", *extra]


def start(cmd) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for(proc: subprocess.Popen, text: str) -> bool:
    """Read stdout until a line holds `text` (True) or the process ends (False)."""
    for line in proc.stdout:
        if text in line:
            return True
    return False


def final_weights(output) -> dict:
    return load_file(Path(output) / "last" / ckpt.MODEL_FILE)


def assert_same_weights(expected: dict, got: dict) -> None:
    assert expected.keys() == got.keys()
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f"{len(different)} of {len(expected)} tensors differ, e.g. {different[:3]}"


def last_is_whole(output) -> int | None:
    """Step of <output>/last, after checking it loads completely; None when no checkpoint exists yet."""
    try:
        path = ckpt.resolve(Path(output) / "last")
    except FileNotFoundError:
        return None
    model, manifest = ckpt.load_model(path)  # verifies every hash, loads every weight
    return ckpt.load_trainer_state(path)["step"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    done = subprocess.run(train_cmd(out), capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert last_is_whole(out) == 9
    return final_weights(out)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_exact(reference, tmp_path):
    rng = random.Random(9)
    out = tmp_path / "run"
    steps = []
    for kill in range(3):
        proc = start(train_cmd(out, "resume=auto"))
        try:
            started = wait_for(proc, "steps/epoch")  # training begins right after this line
            time.sleep(rng.uniform(0.0, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=TIMEOUT)
        finally:
            proc.kill()
            proc.communicate()
        assert started, "the run ended before training started"
        step = last_is_whole(out)  # never half-written: loads completely, or does not exist
        steps.append(step)
    done = subprocess.run(train_cmd(out, "resume=auto"), capture_output=True, text=True, env=ENV,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert last_is_whole(out) == 9
    assert not list(out.glob("last.tmp-*")) and not (out / "last.old").exists()
    assert_same_weights(reference, final_weights(out))
    print(f"steps saved in last/ after each SIGKILL: {steps}; resumed to step 9, weights equal")


@pytest.mark.slow
def test_sigterm_saves_and_says_how_to_resume(reference, tmp_path):
    out = tmp_path / "run"
    proc = start(train_cmd(out))
    try:
        assert wait_for(proc, "steps/epoch")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    assert message.startswith(f"interrupted: saved {out / 'last'}; resume with: smolmamba train --config ")
    assert message.endswith(" resume=auto")
    step = last_is_whole(out)
    assert step is not None and step < 9
    again = shlex.split(message.split("resume with: ", 1)[1])
    assert again[:2] == ["smolmamba", "train"]
    done = subprocess.run([sys.executable, "-m", "smolmamba.cli", *again[1:]], capture_output=True, text=True,
                          env=ENV, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert f"resuming from {out / 'last'} at epoch" in done.stdout
    assert_same_weights(reference, final_weights(out))


def test_sigint_in_process_saves_last(tmp_path, monkeypatch, capsys):
    """The handler finishes the step in progress, saves last/, and restores the previous handlers."""
    real_lr_at = epoch.lr_at

    def lr_at(step, *args):
        if step == 1:
            signal.raise_signal(signal.SIGINT)  # arrives during step 2 (index 1)
        return real_lr_at(step, *args)

    monkeypatch.setattr(epoch, "lr_at", lr_at)  # looked up by train_one_epoch
    before = signal.getsignal(signal.SIGINT)
    out = tmp_path / "run"
    code = cli.main(["train", "--config", str(CONFIG), *OPTIONS, f"output={out}"])
    err = capsys.readouterr().err
    assert code == 130
    assert "received SIGINT: saving last/ after this step" in err
    assert f"interrupted: saved {out / 'last'}; resume with: smolmamba train" in err
    assert last_is_whole(out) == 2
    assert signal.getsignal(signal.SIGINT) is before

    with pytest.raises(loop.TrainingInterrupted, match=r"interrupted by SIGINT: saved .*last"):
        loop.main(load_config(CONFIG, OPTIONS + [f"output={tmp_path / 'api'}"]))
