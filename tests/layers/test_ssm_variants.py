"""The block-ablation switches (ModelCfg u_norm, u_spikes, z_gate, y_spikes, dt_max, surrogate_alpha,
prune_start, pruner_ste): each builds, runs forward and backward, and changes what it says."""

import pytest
import torch
import torch.nn.functional as F

from smolmamba.models import create_model
from smolmamba.models.network import stage_starts
from smolmamba.models.summary import example_input

SWITCHES = [dict(u_norm="batch"), dict(u_spikes=False), dict(z_gate=False), dict(y_spikes=False),
            dict(dt_max=0.5), dict(surrogate_alpha=2.0), dict(pruner_ste=False),
            dict(prune_start=1, keep_ratios=(0.7, 0.5, 0.4))]


@pytest.mark.parametrize("overrides", SWITCHES, ids=lambda o: ",".join(o))
def test_switch_trains_and_every_parameter_gets_gradient(overrides):
    torch.manual_seed(0)
    model = create_model("smolmamba_tiny", **overrides).train()
    x = example_input(model.cfg, 4, torch.Generator().manual_seed(0))
    F.cross_entropy(model(x), torch.arange(4)).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    if overrides.get("pruner_ste") is False:  # without the factor SST-TP's alpha, beta get no gradient
        assert missing and all("raw_weights" in n for n in missing)
    else:
        assert missing == []


def test_switches_remove_the_modules_they_name():
    ssm = create_model("smolmamba_tiny", u_spikes=False, z_gate=False, y_spikes=False).blocks[0].mixer
    assert ssm.u_lif is None and ssm.z_lif is None and ssm.z_norm is None and ssm.y_lif is None
    assert isinstance(create_model("smolmamba_tiny", u_norm="batch").blocks[0].mixer.u_norm, torch.nn.BatchNorm1d)
    lif = create_model("smolmamba_tiny", surrogate_alpha=2.0).blocks[0].in_lif
    assert lif.alpha == 2.0


def test_dt_max_widens_the_dt_init():
    torch.manual_seed(0)
    dt = lambda m: F.softplus(m.blocks[0].mixer.forward_dir.dt_bias).max().item()  # noqa: E731
    assert dt(create_model("smolmamba_tiny")) <= 0.1 + 1e-6 < dt(create_model("smolmamba_tiny", dt_max=0.5))


def test_prune_start_moves_the_first_pruning_stage():
    assert stage_starts(4, 3, first=1) == [1, 2, 3]
    assert stage_starts(12, 4, first=2) == [2, 5, 7, 10]
    model = create_model("smolmamba_tiny", prune_start=1, keep_ratios=(0.7, 0.5, 0.4))
    assert model.blocks[0].pruner is None and all(b.pruner is not None for b in model.blocks[1:])
    with pytest.raises(ValueError, match="prune_start"):
        create_model("smolmamba_tiny", prune_start=1)  # 4 stages do not fit in blocks 1..3
    with pytest.raises(ValueError, match="u_norm"):
        create_model("smolmamba_tiny", u_norm="layer")


def test_init_shifts_set_the_norms_and_open_the_gate():
    """gate_bias / scan_out_bias / u_gain are where z_norm's shift, y_norm's shift and u's gain start; a
    larger gate shift makes the gate's LIF fire more in the first training forward."""
    ssm = create_model("smolmamba_tiny", gate_bias=0.7, scan_out_bias=-0.2, u_gain=1.3).blocks[1].mixer
    assert torch.equal(ssm.z_norm.bias, torch.full_like(ssm.z_norm.bias, 0.7))
    assert torch.equal(ssm.y_norm.bias, torch.full_like(ssm.y_norm.bias, -0.2))
    assert torch.equal(ssm.u_norm.weight, torch.full_like(ssm.u_norm.weight, 1.3))

    def gate_rate(gate_bias):
        torch.manual_seed(0)
        model = create_model("smolmamba_tiny", gate_bias=gate_bias).train()
        rates = []
        hook = model.blocks[0].mixer.z_lif.register_forward_hook(lambda m, i, out: rates.append(out.mean()))
        with torch.no_grad():
            model(example_input(model.cfg, 8, torch.Generator().manual_seed(0)))
        hook.remove()
        return float(rates[0])

    assert gate_rate(0.0) < 0.06 < 0.15 < gate_rate(1.0)
