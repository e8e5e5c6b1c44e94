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
