"""torch.fx: every model traces with symbolic_trace and torchvision's create_feature_extractor, and the
traced graph's forward and backward equal the eager model's."""

import copy

import pytest
import torch
import torch.fx
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from smolmamba.models.registry import create_model, list_models
from smolmamba.models.summary import example_input

TINY = list_models("tiny")
KINDS = ["smolmamba_tiny", "smixer_tiny", "spikformer_evit_tiny"]  # SST-TP + aligned scan, DSTSP, fused tokens


def pair(name: str):
    """(model, input) at seed 0: a model and a random batch of its input kind."""
    torch.manual_seed(0)
    model = create_model(name)
    return model, example_input(model.cfg, 2, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", TINY)
def test_every_tiny_model_traces(name):
    model, _ = pair(name)
    assert any(n.op == "call_function" for n in torch.fx.symbolic_trace(model).graph.nodes)


@pytest.mark.parametrize("name", KINDS)
def test_symbolic_trace_forward_and_backward_equal_eager(name):
    model, x = pair(name)
    traced = torch.fx.symbolic_trace(copy.deepcopy(model))
    for m in (model, traced):
        m.train()
        m(x).square().mean().backward()
    grads = dict(traced.named_parameters())
    for n, p in model.named_parameters():
        torch.testing.assert_close(grads[n].grad, p.grad, msg=n)
    model.eval(), traced.eval()
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


def test_create_feature_extractor_returns_eager_logits():
    model, x = pair("smixer_tiny")
    model.eval()
    train_nodes, eval_nodes = get_graph_node_names(model)
    extractor = create_feature_extractor(model, train_return_nodes=[train_nodes[-1]],
                                         eval_return_nodes=[eval_nodes[-1]])
    with torch.no_grad():
        (out,) = extractor(x).values()
        torch.testing.assert_close(out, model(x), rtol=0, atol=0)


def test_eager_checks_still_run():
    model, _ = pair("smolmamba_tiny")
    with pytest.raises(ValueError, match="channels"):
        model(torch.rand(1, 3, 16, 16))
