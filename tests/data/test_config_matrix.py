"""Every shipped config trains with its own recipe on data in the real on-disk format at the real resolution.

One row per config file (and per on-disk layout of the event sets): one short epoch with the file's
augmentation, mixup/cutmix, EMA, label smoothing and bf16 autocast as set, evaluated; then resumed with
resume=auto for a second epoch; then its best/ checkpoint is read back by `smolmamba eval`. The only
overrides are the small-data and CPU ones (data_root, output, epochs, batch_size, train_subset,
eval_subset, workers, device) and the class count of an ImageNet subset.
"""

import json
from pathlib import Path

import pytest
import yaml

from real_format_data import (write_cifar, write_cifar10_dvs, write_dvs_gesture, write_imagenet,
                              write_spikingjelly_frames)
from smolmamba import cli

CONFIGS = Path(__file__).parents[2] / "configs"

# config file stem -> {layout: (data writer or None for embedded data, extra overrides)};
# smolmamba_dvs runs at T=16, so SpikingJelly's folders are frames_number_16
ROWS = {
    "digits_smolmamba_tiny": {"embedded": (None, [])},
    "nmnist_digits_smolmamba_tiny": {"embedded": (None, [])},
    "cifar10_smolmamba_cifar": {"python pickles": (lambda root: write_cifar(root, 10), [])},
    "cifar100_smolmamba_cifar": {"python pickles": (lambda root: write_cifar(root, 100), [])},
    "imagenet_smolmamba_imagenet": {"JPEG folders": (write_imagenet, ["model.num_classes=4", "train_subset=2"])},
    "cifar10_dvs_smolmamba_dvs": {"AEDAT 2.0": (write_cifar10_dvs, []),
                                  "SpikingJelly frames": (lambda root: write_spikingjelly_frames(
                                      root, "cifar10_dvs", T=16), [])},
    "dvs_gesture_smolmamba_dvs": {"AEDAT 3.1": (write_dvs_gesture, []),
                                  "SpikingJelly frames": (lambda root: write_spikingjelly_frames(
                                      root, "dvs_gesture", T=16), [])},
}
CASES = [(stem, layout) for stem, layouts in ROWS.items() for layout in layouts]


def test_every_config_file_has_a_row():
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(ROWS)


@pytest.mark.slow
@pytest.mark.parametrize("stem,layout", CASES, ids=[f"{s}-{layout.replace(' ', '_')}" for s, layout in CASES])
def test_config_trains_resumes_and_evaluates(stem, layout, tmp_path, capsys):
    config = CONFIGS / f"{stem}.yaml"
    recipe = yaml.safe_load(config.read_text())
    writer, extra = ROWS[stem][layout]
    out = tmp_path / "run"
    small = [f"output={out}", "batch_size=2", "train_subset=4", "eval_subset=2", "workers=1", "device=cpu", *extra]
    data = []
    if writer is not None:
        root = writer(tmp_path / "data")
        small.append(f"data_root={root}")
        data = ["--data-root", str(root)]

    assert cli.main(["train", "--config", str(config), *small, "epochs=1"]) == 0
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[0].startswith("epoch,step") and "test_top1" in rows[0]
    assert {"config.yaml", "last", "best"} <= {p.name for p in out.iterdir()}
    saved = yaml.safe_load((out / "config.yaml").read_text())
    for option in ("augment", "mixup", "cutmix", "ema", "label_smoothing", "amp", "lr", "weight_decay"):
        if option in recipe:  # the recipe ran as configured
            assert saved[option] == recipe[option], option
    capsys.readouterr()

    assert cli.main(["train", "--config", str(config), *small, "epochs=2", "resume=auto"]) == 0
    printed = capsys.readouterr()
    assert f"resuming from {out / 'last'}" in printed.out + printed.err
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1"]  # epoch 0 kept, epoch 1 added by the resumed run

    result = tmp_path / "eval.json"
    assert cli.main(["eval", "--checkpoint", str(out / "best"), "--data", recipe["dataset"], *data,
                     "--batches", "1", "--batch-size", "2", "--json", str(result)]) == 0
    evaluated = json.loads(result.read_text())
    assert evaluated["images"] == 2 and 0 <= evaluated["top1"] <= 100


def test_a_cuda_config_on_a_machine_without_cuda_names_the_override(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    root = write_imagenet(tmp_path / "data", per_class=1)
    code = cli.main(["train", "--config", str(CONFIGS / "imagenet_smolmamba_imagenet.yaml"),
                     f"data_root={root}", f"output={tmp_path / 'run'}", "model.num_classes=4"])
    err = capsys.readouterr().err
    assert code == 2 and "device=cuda" in err and "device=cpu" in err and "Traceback" not in err
