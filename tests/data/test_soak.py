"""Soak: two epochs of the cifar10 recipe over thousands of generated images, so a failure that only a
rare random draw of the augmentation reaches (like RandAugment's 0-bit posterize, 0.37 % of draws) ends
the test instead of a user's run. The recipe (RandAugment, random erasing, mixup, label smoothing, bf16
autocast, workers) is the config's; the model is narrowed to keep the test short."""

from pathlib import Path

import pytest

from real_format_data import write_cifar
from smolmamba import cli

CONFIG = Path(__file__).parents[2] / "configs" / "cifar10_smolmamba_cifar.yaml"


@pytest.mark.slow
def test_two_epochs_of_the_cifar10_recipe_over_thousands_of_images(tmp_path):
    root = write_cifar(tmp_path / "data", 10, per_file=400)  # 2,000 training images at 32x32
    out = tmp_path / "run"
    assert cli.main(["train", "--config", str(CONFIG), f"data_root={root}", f"output={out}", "epochs=2",
                     "batch_size=32", "workers=2", "device=cpu", "eval_subset=64", "model.embed_dim=32"]) == 0
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    assert [r.split(",")[:2] for r in rows] == [["0", "62"], ["1", "124"]]  # 2,000 // 32 steps an epoch
