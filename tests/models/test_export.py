"""torch.export and ONNX export of the dense (spiking_mamba_tiny) and pruned (smolmamba_tiny) models
match eager, at the traced batch size and others (the batch dimension is dynamic)."""

import pytest
import torch

from smolmamba import cli
from smolmamba.models import create_model
from smolmamba.models.export import export_program, save_onnx, traceable
from smolmamba.models.summary import example_input
from smolmamba.neurons import LIF

# small enough to trace in seconds: 16 tokens, 2 blocks (two pruning stages), T = 2
SMALL = dict(img_size=8, embed_dim=16, depth=2, keep_ratios=(0.7, 0.5), time_steps=2)
MODELS = ("spiking_mamba_tiny", "smolmamba_tiny")


@pytest.fixture(scope="module")
def exported():
    """name -> (eval model, its ExportedProgram), traced once for all tests of this module."""
    out = {}
    for name in MODELS:
        torch.manual_seed(0)
        model = create_model(name, **SMALL).eval()
        with torch.no_grad():  # drive the neurons so that spikes (and pruning choices) are not trivial
            model.patch_embed.convs[0].weight.mul_(4.0)
        out[name] = model, export_program(model, example_input(model.cfg, 2))
    return out


def inputs(model):
    gen = torch.Generator().manual_seed(1)
    return [example_input(model.cfg, b, gen) for b in (2, 1, 5)]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_torch_export_matches_eager(exported, name, tmp_path):
    model, program = exported[name]
    torch.export.save(program, str(tmp_path / "model.pt2"))
    loaded = torch.export.load(str(tmp_path / "model.pt2")).module()
    for x in inputs(model):
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(loaded(x), expected, rtol=0, atol=1e-6)
    if name == "smolmamba_tiny":  # the pruned graph really prunes: fewer tokens than patches
        assert model.forward_features(x).shape[2] < model.cfg.input.num_tokens


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_onnx_export_matches_eager(exported, name, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, program = exported[name]
    path = save_onnx(program, tmp_path / "model.onnx")
    onnx.checker.check_model(onnx.load(str(path)))
    session = ort.InferenceSession(str(path))
    for x in inputs(model):
        (logits,) = session.run(None, {"x": x.numpy()})
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(torch.from_numpy(logits), expected, rtol=0, atol=1e-5)


def test_traceable_restores_neurons_and_mode():
    model = create_model("smolmamba_tiny", **SMALL).train()
    with traceable(model) as m:
        assert not m.training and all(n.impl == "reference" for n in m.modules() if isinstance(n, LIF))
    assert model.training and all(n.impl == "fast" for n in model.modules() if isinstance(n, LIF))


def test_nan_check_still_runs_in_eager():
    model = create_model("smolmamba_tiny", **SMALL).eval()
    x = example_input(model.cfg, 1)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN/inf"):
        model(x)


def test_export_cli_errors_name_the_fix(tmp_path, capsys):
    assert cli.main(["export", "--out", str(tmp_path / "m.pt2")]) == 2
    assert "exactly one of --model NAME or --checkpoint PATH" in capsys.readouterr().err
    assert cli.main(["export", "--model", "smolmamba_tiny", "--out", str(tmp_path / "m.bin")]) == 2
    assert "choose one of ('pt2', 'onnx')" in capsys.readouterr().err
