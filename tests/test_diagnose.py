import math

import pytest
import torch
from torch import nn

from smolmamba.experiments.diagnose import (FiringRecorder, Probe, first_epoch_probes, group_of, grouped, kind_of,
                                            module_grad_norms, probes_markdown)
from smolmamba.models import create_model
from smolmamba.neurons import LIF


def test_firing_recorder_sees_each_lif_rate():
    model = nn.Sequential(LIF(), nn.Identity(), LIF(v_threshold=0.4))  # input 1 -> h = 0.5 fires
    recorder = FiringRecorder(model)
    x = torch.zeros(4, 2, 6)
    x[:, :, :3] = 3.0  # tau 2: h = 1.5 >= threshold on every step for these, never for the rest
    model(x)
    recorder.close()
    assert recorder.rates == {"0": pytest.approx(0.5), "2": pytest.approx(0.5)}
    model(torch.zeros(4, 2, 6))
    assert recorder.rates["0"] == pytest.approx(0.5)  # closed: the hooks are gone


def test_module_grad_norms_is_the_l2_norm_of_each_modules_own_grads():
    model = nn.Sequential(nn.Linear(2, 1), nn.Linear(1, 1, bias=False))
    model[0].weight.grad = torch.tensor([[3.0, 0.0]])
    model[0].bias.grad = torch.tensor([4.0])
    model[1].weight.grad = torch.tensor([[-2.0]])
    assert module_grad_norms(model) == {"0": pytest.approx(5.0), "1": pytest.approx(2.0)}


def test_components_group_block_parts_and_combine_norms_as_a_total():
    assert group_of("blocks.2.mixer.forward_dir.x_proj") == "blocks.2.mixer"
    assert group_of("patch_embed.lifs.0") == "patch_embed" and group_of("head") == "head"
    norms = grouped({"blocks.0.mlp.fc1": 3.0, "blocks.0.mlp.fc2": 4.0, "head": 1.0}, "rms")
    assert norms == {"blocks.0.mlp": pytest.approx(5.0), "head": pytest.approx(1.0)}
    assert grouped({"a.x": 0.2, "a.y": 0.4}, "mean") == {"a": pytest.approx(0.3)}


def test_per_lif_table_shows_a_silent_lif_that_its_components_mean_hides():
    assert kind_of("blocks.3.mixer.y_lif") == "mixer.y_lif" and kind_of("blocks.0.in_lif") == "in_lif"
    assert kind_of("patch_embed.lifs.0") == "patch_embed.lifs.0"
    firing = {"blocks.0.mixer.u_lif": 0.3, "blocks.0.mixer.y_lif": 0.002,
              "blocks.1.mixer.u_lif": 0.2, "blocks.1.mixer.y_lif": 0.004}
    text = "\n".join(probes_markdown("m", [Probe(0, 2.3, firing, {"head": 1.0})]))
    assert "| blocks.0.mixer | 0.151 |" in text  # the component mean looks busy
    assert "| mixer.y_lif | 0.0030 |" in text and "| mixer.u_lif | 0.2500 |" in text


@pytest.mark.slow
def test_first_epoch_probes_of_smolmamba_tiny(tmp_path):
    probes = first_epoch_probes("smolmamba_tiny", "digits", 5e-3, 15, (0, 2, 999))
    assert [p.step for p in probes] == [0, 2]  # 999 is past the first epoch
    init = probes[0]
    assert abs(init.loss - math.log(10)) < 1.5
    lifs = [n for n, m in create_model("smolmamba_tiny").named_modules() if isinstance(m, LIF)]
    assert sorted(init.firing) == sorted(lifs) and all(0.0 <= r <= 1.0 for r in init.firing.values())
    assert init.grad_norm["head"] > 0 and all(v >= 0 for v in init.grad_norm.values())
    text = "\n".join(probes_markdown("smolmamba_tiny", probes))
    assert "| blocks.0.mixer |" in text and "step 2" in text
    with pytest.raises(ValueError, match="no probe step inside the first epoch"):
        first_epoch_probes("smolmamba_tiny", "digits", 5e-3, 15, (500,))
