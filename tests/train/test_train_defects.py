"""Regressions of issue 13's defects: A_log/D weight decay, the DSTSP token count in evaluate."""

import torch

from smolmamba.data.model_input import model_batches
from smolmamba.models import create_model
from smolmamba.models.network import tokens_per_stage
from smolmamba.train.config import TrainConfig
from smolmamba.train.epoch import evaluate
from smolmamba.train.setup import make_optimizer


def test_a_log_and_d_are_not_weight_decayed():
    model = create_model("smolmamba_tiny")
    opt = make_optimizer(model, TrainConfig(weight_decay=0.05))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    scan_dirs = [m for name, m in model.named_modules() if name.endswith("forward_dir")]
    assert scan_dirs
    for d in scan_dirs:
        assert id(d.A_log) not in decayed and id(d.D) not in decayed
        assert id(d.x_proj.weight) in decayed  # the rule still decays ordinary weights


def test_evaluate_reports_the_dstsp_token_count():
    torch.manual_seed(0)
    model = create_model("smixer_tiny").eval()
    batches = list(model_batches(model.cfg, "digits", None, "test", 1, 8))
    expected = tokens_per_stage(model, batches[0][0])
    assert len(expected) == 2 and expected[1] < expected[0]  # DSTSP keeps fewer tokens (+1 fused)
    assert evaluate(model, batches)["tokens_per_stage"] == expected
