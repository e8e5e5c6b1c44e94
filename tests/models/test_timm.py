"""timm.create_model builds every registered model; the timm model interface and pretrained_cfg."""

import subprocess
import sys

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

import smolmamba  # noqa: F401  (files the models with timm)
from smolmamba.data.images import CIFAR_MEAN, CIFAR_STD
from smolmamba.models import create_model, list_models, model_cfg
from smolmamba.models.pretrained import pretrained_cfg, timm_fields
from smolmamba.models.summary import example_input

NAMES = list_models()


def small(name):
    """Overrides that keep a variant's kind (mixer, pruners, input) but make it quick: 16 tokens,
    D = 48 (divisible by every head count), T = 2."""
    return dict(img_size=4 * model_cfg(name).input.patch_size, embed_dim=48, time_steps=2)


@pytest.mark.parametrize("name", NAMES)
def test_timm_create_model_forward_backward(name):
    model = timm.create_model(name, num_classes=3, pretrained=False, **small(name))
    assert model.num_classes == 3 and model.num_features == 48
    x = example_input(model.cfg, 2) * (1.0 if model.cfg.input.events else 3.0)
    loss = F.cross_entropy(model(x), torch.tensor([0, 2]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters()), name


@pytest.mark.parametrize("name", NAMES)
def test_timm_default_cfg_is_the_models(name):
    expected = pretrained_cfg(model_cfg(name))
    timm_cfg = timm.get_pretrained_cfg(name).to_dict()
    assert {k: timm_cfg[k] for k in timm_fields(expected)} == timm_fields(expected)
    assert timm_cfg["architecture"] == name


def test_every_name_is_a_timm_model():
    assert set(NAMES) <= set(timm.list_models())


def test_kwargs_are_model_cfg_overrides_and_unknown_ones_fail():
    model = timm.create_model("smolmamba_tiny", depth=2, keep_ratios=(0.7, 0.5), time_steps=2)
    assert (model.cfg.depth, model.cfg.input.time_steps) == (2, 2)
    with pytest.raises(ValueError, match=r"unknown model option\(s\) \['drop_rate'\]"):
        timm.create_model("smolmamba_tiny", drop_rate=0.1)
    with pytest.raises(TypeError, match="unknown model option"):  # timm's contract for unknown arguments
        timm.create_model("smolmamba_tiny", not_a_model_arg=1)
    with pytest.raises(ValueError, match="no pretrained weights.*pretrained_cfg_overlay"):
        timm.create_model("smolmamba_tiny", pretrained=True)


def test_torchscript_is_refused_naming_torch_export():
    with timm.set_scriptable(True), pytest.raises(RuntimeError, match="torch.export"):
        timm.create_model("smolmamba_tiny")


def test_device_and_dtype_options():
    model = timm.create_model("smolmamba_tiny", device="meta", dtype=torch.float64, embed_dim=16, depth=2,
                              keep_ratios=(0.7, 0.5))
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert {p.dtype for p in model.parameters()} == {torch.float64}


def test_event_models_take_packed_frames():
    model = timm.create_model("smolmamba_tiny_events", embed_dim=16, depth=2, keep_ratios=(0.7, 0.5)).eval()
    frames = example_input(model.cfg, 2)  # (B, T, 2, H, W)
    assert model.pretrained_cfg["input_size"] == (8, 16, 16) and model.in_chans == 8  # (T*2, H, W)
    with torch.no_grad():
        torch.testing.assert_close(model(frames.flatten(1, 2)), model(frames), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"T\*2 = 8"):
        model(torch.rand(1, 6, 16, 16))


def test_checkpoint_path_loads_our_weights(tmp_path):
    source = create_model("spiking_mamba_tiny", embed_dim=16, depth=2)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    model = timm.create_model("spiking_mamba_tiny", embed_dim=16, depth=2, checkpoint_path=str(path))
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), model.state_dict().values()))


def test_pretrained_cfg_fields_follow_the_model_and_the_data_modules():
    cfg = create_model("smolmamba_tiny_events").pretrained_cfg
    assert (cfg["input_size"], cfg["time_steps"], cfg["in_chans"], cfg["events"]) == ((8, 16, 16), 4, 2, True)
    assert cfg["mean"] == (0.0,) * 8 and cfg["std"] == (1.0,) * 8  # spike counts are not normalised
    tiny = create_model("smolmamba_tiny", img_size=32, time_steps=2, num_classes=7)
    assert tiny.pretrained_cfg["input_size"] == (1, 32, 32) and tiny.default_cfg == tiny.pretrained_cfg
    assert (tiny.pretrained_cfg["num_classes"], tiny.pretrained_cfg["time_steps"]) == (7, 2)
    assert tiny.pretrained_cfg["mean"] == (0.0,)  # digits: pixels in [0, 1]
    cifar = pretrained_cfg(model_cfg("smolmamba_cifar"))
    assert (cifar["mean"], cifar["std"]) == (CIFAR_MEAN, CIFAR_STD)
    imagenet = pretrained_cfg(model_cfg("smolmamba_imagenet"))
    assert (imagenet["mean"], imagenet["std"]) == (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
    assert timm.data.resolve_data_config(model=tiny)["input_size"] == (1, 32, 32)


def test_classifier_interface():
    model = create_model("smolmamba_tiny", embed_dim=16, depth=2, keep_ratios=(0.7, 0.5)).eval()
    x = example_input(model.cfg, 2)
    assert model.get_classifier() is model.head
    tokens = model.forward_features(x)
    assert tokens.shape == (4, 2, 32, 16)  # [T, B, n kept, D]
    assert model.forward_head(tokens, pre_logits=True).shape == (2, 16)
    torch.testing.assert_close(model.forward_head(tokens), model(x))
    model.reset_classifier(7)
    assert model.num_classes == model.cfg.num_classes == 7 and model(x).shape == (2, 7)
    assert model.pretrained_cfg["num_classes"] == 7
    model.reset_classifier(0)
    assert isinstance(model.get_classifier(), torch.nn.Identity) and model(x).shape == (2, 16)
    with pytest.raises(ValueError, match="global_pool"):
        model.reset_classifier(3, global_pool="token")


IMPORT_ORDERS = {
    "smolmamba_first": "import sys, smolmamba\n"
                       "assert 'torch' not in sys.modules and 'timm' not in sys.modules\n"
                       "import timm\n",
    "timm_first": "import timm, smolmamba\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("order", sorted(IMPORT_ORDERS))
def test_timm_sees_the_models_in_either_import_order(order):
    code = IMPORT_ORDERS[order] + "m = timm.create_model('smolmamba_tiny', num_classes=4)\nprint(m.num_classes)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4"
