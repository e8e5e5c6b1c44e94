import builtins
import json

import pytest
import torch

from smolmamba.models import create_model
from smolmamba.train import checkpoint as ckpt

from train_helpers import TINY_MODEL


def tiny(seed=0, **overrides):
    torch.manual_seed(seed)
    return create_model("smolmamba_tiny", **{**TINY_MODEL, **overrides})


def save(tmp_path, model, ema=None, name="last"):
    state = {"epoch": 1, "step": 4, "optimizer": {"lr": 0.1}, "rng": [torch.get_rng_state()]}
    return ckpt.save_checkpoint(tmp_path / name, model, "smolmamba_tiny", state, ema)


def test_roundtrip_and_manifest(tmp_path):
    model, ema = tiny(0), tiny(1)
    rng = torch.get_rng_state()
    path = save(tmp_path, model, ema)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]  # no tmp or .old left behind
    manifest = json.loads((path / ckpt.MANIFEST).read_text())
    assert manifest["model"] == "smolmamba_tiny" and manifest["model_cfg"]["embed_dim"] == 16
    assert set(manifest["files"]) == {ckpt.MODEL_FILE, ckpt.EMA_FILE, ckpt.STATE_FILE}
    loaded, _ = ckpt.load_model(path)
    loaded_ema, _ = ckpt.load_model(path, ckpt.EMA_FILE)
    for src, dst in ((model, loaded), (ema, loaded_ema)):
        a, b = src.state_dict(), dst.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state = ckpt.load_trainer_state(path)
    assert state["step"] == 4 and torch.equal(state["rng"][0], rng)


def test_overwrite_is_atomic_and_old_folder_is_a_fallback(tmp_path):
    save(tmp_path, tiny(0))
    path = save(tmp_path, tiny(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    path.rename(tmp_path / "last.old")  # a crash between the two renames leaves only last.old
    assert ckpt.resolve(tmp_path / "last") == tmp_path / "last.old"
    ckpt.load_weights(tmp_path / "last", tiny(2))
    save(tmp_path, tiny(0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    with pytest.raises(ValueError, match="run folder; pass .*best or .*last"):
        ckpt.resolve(tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ckpt.resolve(tmp_path / "nowhere")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_file_is_refused_by_hash(tmp_path, damage):
    path = save(tmp_path, tiny())
    file = path / ckpt.MODEL_FILE
    data = bytearray(file.read_bytes())
    if damage == "flip":
        data[-3] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"corrupted or truncated: file model.safetensors hash mismatch"):
        ckpt.load_weights(path, tiny())


def test_wrong_architecture_lists_keys(tmp_path):
    path = save(tmp_path, tiny())
    with pytest.raises(ValueError) as err:
        ckpt.load_weights(path, tiny(depth=3, embed_dim=32))
    msg = str(err.value)
    assert "missing keys" in msg and "blocks.2." in msg and "shape mismatches" in msg
    assert "vs model (32" in msg
    with pytest.raises(ValueError, match="unexpected keys"):
        ckpt.load_weights(save(tmp_path, tiny(depth=3), name="deep"), tiny())


class WritesMarker:
    """Unpickling this calls open(marker, "w"): the file appears if the pickle is executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def test_malicious_trainer_state_is_refused(tmp_path):
    path = save(tmp_path, tiny())
    marker = tmp_path / "pwned"
    torch.save({"epoch": 1, "payload": WritesMarker(marker)}, path / ckpt.STATE_FILE)
    with pytest.raises(ValueError, match="trainer_state.pt hash mismatch"):
        ckpt.load_trainer_state(path)
    # an attacker who also rewrites the manifest is stopped by weights_only unpickling
    manifest = json.loads((path / ckpt.MANIFEST).read_text())
    manifest["files"][ckpt.STATE_FILE] = ckpt.sha256(path / ckpt.STATE_FILE)
    (path / ckpt.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="refusing to load .*trainer_state.pt.*could run code"):
        ckpt.load_trainer_state(path)
    assert not marker.exists()


# manifest.json's model_cfg as the flat ModelCfg wrote it before it was nested by concern: every option of
# every mixer (num_heads and attn_scale of an SSM model), and "extra", a field retired before that
OLD_FLAT_CFG = {
    "img_size": 16, "patch_size": 2, "in_chans": 1, "num_classes": 10, "embed_dim": 16, "depth": 2,
    "mlp_ratio": 4.0, "time_steps": 4, "events": False, "mixer": "ssm", "expand": 1, "d_state": 8,
    "dt_rank": None, "pruner": "sst_tp", "keep_ratios": [0.7, 0.5], "align": True, "fuse_pruned": False,
    "input_pruner": None, "spatial_prune_rate": 0.3, "temporal_prune_rate": 1.0, "num_heads": 8,
    "attn_scale": 0.125, "pruning_mode": "train", "scan_impl": "auto", "tau": 2.0, "v_threshold": 1.0,
    "surrogate": "sigmoid", "detach_reset": False, "lif_kernel": "auto", "surrogate_alpha": None,
    "u_norm": "scale", "u_spikes": True, "z_gate": True, "y_spikes": True, "dt_max": 0.1, "gate_bias": 1.0,
    "scan_out_bias": 0.0, "u_gain": 1.0, "prune_start": 0, "pruner_ste": True, "extra": {},
}


OLD_SSA_CFG = dict(OLD_FLAT_CFG, mixer="ssa", num_heads=2, pruner=None, keep_ratios=[0.8, 0.6, 0.5, 0.4])


def with_manifest_cfg(path, model_cfg) -> None:
    """Rewrite a saved checkpoint's manifest to hold `model_cfg` (as an older version wrote it)."""
    manifest = json.loads((path / ckpt.MANIFEST).read_text())
    manifest["model_cfg"] = model_cfg
    (path / ckpt.MANIFEST).write_text(json.dumps(manifest))


def test_manifest_holds_the_nested_cfg():
    cfg = tiny().cfg
    manifest_cfg = json.loads(json.dumps(cfg.to_json()))
    assert manifest_cfg["mixer"]["kind"] == "ssm" and manifest_cfg["pruning"]["keep_ratios"] == [0.7, 0.5]
    assert ckpt.saved_options(manifest_cfg) == cfg.fields()


@pytest.mark.parametrize("name, overrides, old_cfg", [
    ("smolmamba_tiny", dict(embed_dim=16, depth=2, keep_ratios=(0.7, 0.5)), OLD_FLAT_CFG),
    ("spikformer_tiny", dict(embed_dim=16, depth=2), OLD_SSA_CFG),
])
def test_an_old_flat_manifest_loads_the_same_model(tmp_path, name, overrides, old_cfg):
    """The options of the mixers the model does not have (num_heads of the SSM model; expand, d_state, ...
    of the SSA one) are dropped: they had no effect on the model."""
    torch.manual_seed(0)
    model = create_model(name, **overrides).eval()
    path = ckpt.save_checkpoint(tmp_path / "last", model, name, {"epoch": 1, "step": 4})
    with_manifest_cfg(path, old_cfg)
    loaded, _ = ckpt.load_model(path)
    assert loaded.cfg == model.cfg
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), model(x), rtol=0, atol=0)
