"""Gradient checkpointing gives the same gradients and the same norm statistics as a plain step."""

import pytest
import torch
import torch.nn.functional as F

from smolmamba.models import create_model
from smolmamba.models.summary import example_input

SMALL = dict(embed_dim=16, depth=2, time_steps=3)
CASES = {  # name -> overrides: dense and pruned SSM (BatchNorm + ScaleNorm), random pruner (RNG), attention
    "spiking_mamba_tiny": {},
    "smolmamba_tiny": dict(keep_ratios=(0.7, 0.5)),
    "smolmamba_tiny_events": dict(keep_ratios=(0.7, 0.5), pruner="random"),
    "spikformer_evit_tiny": dict(keep_ratios=(0.7, 0.5)),
}


def step(model, x, y):
    """One training forward/backward -> (gradients, state_dict after it)."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the random pruner draws from the global RNG
    F.cross_entropy(model(x), y).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return grads, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_checkpointed_step_is_identical(name):
    torch.manual_seed(0)
    plain = create_model(name, **SMALL, **CASES[name]).train()
    checkpointed = create_model(name, **SMALL, **CASES[name]).train()
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.set_grad_checkpointing()
    x = example_input(plain.cfg, 4) * (1.0 if plain.cfg.input.events else 3.0)
    y = torch.tensor([0, 1, 2, 3])
    grads, state = step(plain, x, y)
    grads_ckpt, state_ckpt = step(checkpointed, x, y)
    assert any(g.abs().sum() > 0 for g in grads.values())
    for n in grads:  # float32 on CPU: the recomputation runs the same kernels, so the gradients are equal
        torch.testing.assert_close(grads_ckpt[n], grads[n], rtol=0, atol=0, msg=n)
    for k in state:  # running statistics updated once, as without checkpointing (num_batches_tracked too)
        assert torch.equal(state_ckpt[k], state[k]), k


def test_blocks_are_recomputed_only_when_training_with_grad():
    model = create_model("smolmamba_tiny", **SMALL, keep_ratios=(0.7, 0.5))
    model.set_grad_checkpointing()
    calls = []
    model.blocks[0].register_forward_pre_hook(lambda *args: calls.append(1))  # recomputation stops early
    x = example_input(model.cfg, 2) * 3.0

    def forward_calls(train: bool, grad: bool) -> int:
        calls.clear()
        with torch.set_grad_enabled(grad):
            out = model.train(train)(x)
            if grad:
                out.sum().backward()
        return len(calls)

    assert forward_calls(train=True, grad=True) == 2  # forward, then recomputed in backward
    assert forward_calls(train=True, grad=False) == 1
    assert forward_calls(train=False, grad=True) == 1
    model.set_grad_checkpointing(False)
    assert forward_calls(train=True, grad=True) == 1
