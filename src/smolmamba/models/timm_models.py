"""Every registered smolmamba model as a timm entrypoint: timm.create_model("smolmamba_tiny", num_classes=5).

Imported once timm is (smolmamba/timm_plugin.py), never by `import smolmamba` itself. Each name gets
a timm entrypoint that forwards its keyword arguments as ModelCfg overrides (an unknown one is an
UnknownModelOption, a TypeError and a ValueError, listing the valid ones) and a default cfg (input
size, mean/std, classes) filed with timm's generate_default_cfgs, so timm.get_pretrained_cfg(name)
and timm.data.resolve_data_config work. Besides the overrides an entrypoint takes timm's factory
options: device, dtype, features_only (+ out_indices, feature_cls="getter", feature_cfg), and
pretrained=True with a weight file (pretrained_cfg_overlay=dict(file=...) or a "local-dir:" folder,
written by `smolmamba export --format timm`, models/export.py). smolmamba publishes no weights of its own.
TorchScript is not supported: building under timm.set_scriptable(True) raises, naming torch.export.
torch.fx works: the leaf functions are wrapped where they live (torch.fx.wrap), so every tracer sees them.
"""

from __future__ import annotations

from pathlib import Path

from timm.layers import is_scriptable
from timm.models import generate_default_cfgs, is_model, load_state_dict, register_model
from timm.models._builder import pretrained_cfg_for_features, resolve_pretrained_cfg
from timm.models._features import FeatureGetterNet

from smolmamba.models import registry
from smolmamba.models.config import FLAT_OPTIONS
from smolmamba.models.export import TIMM_WEIGHTS
from smolmamba.models.pretrained import pretrained_cfg, timm_fields

default_cfgs: dict = {}  # timm's register_model reads this module's default_cfgs[name]
_registered: set[str] = set()
SCRIPT_ERROR = ("{name}: TorchScript is not supported (torch.jit.script is deprecated in torch 2.14, and the "
                "LIF and scan kernels are Python-level autograd functions). Export with torch.export instead: "
                "`smolmamba export --model {name} --out model.pt2` or smolmamba.models.export.export_program(model)")


class UnknownModelOption(TypeError, ValueError):
    """A keyword argument that is neither a flat ModelCfg option nor a timm factory option."""


def model_overrides(name: str, kwargs: dict) -> dict:
    """kwargs as ModelCfg overrides; UnknownModelOption names the unknown ones and lists the valid ones."""
    unknown = sorted(set(kwargs) - set(FLAT_OPTIONS))
    if unknown:
        raise UnknownModelOption(f"{name}: unknown model option(s) {unknown}; valid options: {sorted(FLAT_OPTIONS)}")
    return kwargs


def feature_options(kwargs: dict) -> dict | None:
    """Pop timm's features_only options from kwargs -> FeatureGetterNet's arguments, or None."""
    cfg = dict(kwargs.pop("feature_cfg", None) or {})
    for key in ("out_indices", "feature_cls", "output_fmt"):
        if key in kwargs:
            cfg[key] = kwargs.pop(key)
    if not kwargs.pop("features_only", False):
        return None
    cls = cfg.pop("feature_cls", "getter")
    if cls not in ("getter", FeatureGetterNet):
        raise ValueError(f"feature_cls={cls!r}: smolmamba models give features through forward_intermediates; "
                         f"use feature_cls='getter' (the default)")
    return cfg


def load_pretrained(model, cfg: dict, name: str) -> None:
    """Load cfg["file"] (a weight file, or a folder holding model.safetensors) into model; a head whose
    size differs from the file's is left freshly initialised."""
    file = cfg.get("file")
    if not file:
        raise ValueError(f"smolmamba publishes no pretrained weights for {name!r}; load a trained run with "
                         f"timm.create_model({name!r}, pretrained=True, pretrained_cfg_overlay=dict("
                         f"file='<run>/best/model.safetensors')), or an exported folder with "
                         f"timm.create_model('local-dir:<folder>', pretrained=True)")
    path = Path(file) / TIMM_WEIGHTS if Path(file).is_dir() else Path(file)
    state = load_state_dict(str(path))
    own = model.state_dict()
    new_head = any(k.startswith("head.") and (k not in own or own[k].shape != v.shape) for k, v in state.items())
    if new_head:
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
    unfit = sorted(k for k in set(own) ^ set(state) if not (new_head and k.startswith("head.")))
    unfit += [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if unfit:
        raise ValueError(f"{path} does not fit {name} as built (e.g. {unfit[:3]}); pass the model "
                         f"options the weights were trained with (ModelCfg.from_json(their manifest.json's "
                         f"model_cfg).fields())")
    model.load_state_dict(state, strict=not new_head)


def feature_net(model, features: dict) -> FeatureGetterNet:
    """timm's FeatureGetterNet around model (default: every feature level), with the cfg and in_chans
    timm's factory gives feature nets."""
    net = FeatureGetterNet(model, **{"out_indices": len(model.feature_info), **features})
    net.in_chans = model.in_chans
    net.pretrained_cfg = net.default_cfg = pretrained_cfg_for_features(model.pretrained_cfg)
    return net


def _entrypoint(name: str):
    """timm's entrypoint signature -> smolmamba.create_model(name, **overrides), plus timm's options."""

    def create(pretrained: bool = False, pretrained_cfg=None, pretrained_cfg_overlay=None, cache_dir=None,
               **kwargs):
        if is_scriptable():
            raise RuntimeError(SCRIPT_ERROR.format(name=name))
        features = feature_options(kwargs)
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("pretrained_model_args", None)  # what a local-dir folder was saved with, also in kwargs
        model = registry.create_model(name, **model_overrides(name, kwargs))
        model.pretrained_cfg = resolve_pretrained_cfg(name, pretrained_cfg, pretrained_cfg_overlay).to_dict()
        if pretrained:
            load_pretrained(model, model.pretrained_cfg, name)
        model.to(device=device, dtype=dtype)
        return model if features is None else feature_net(model, features)

    create.__name__ = create.__qualname__ = name
    create.__module__ = __name__
    create.__doc__ = f"timm entrypoint of smolmamba's {name!r}; keyword arguments are ModelCfg overrides."
    return create


def register(names=None) -> list[str]:
    """File `names` (default: every registered model not yet filed) with timm; -> the names filed."""
    names = [n for n in (registry.list_models() if names is None else names) if n not in _registered]
    clash = [n for n in names if is_model(n)]
    if clash:
        raise ValueError(f"timm already has model(s) {clash}; rename the smolmamba variant(s)")
    default_cfgs.update(generate_default_cfgs(
        {n: timm_fields(pretrained_cfg(registry.model_cfg(n))) for n in names}))
    for name in names:
        fn = _entrypoint(name)
        globals()[name] = fn
        register_model(fn)
        _registered.add(name)
    return names


register()
