"""Every registered smolmamba model as a timm entrypoint: timm.create_model("smolmamba_tiny", num_classes=5).

Imported once timm is (smolmamba/timm_plugin.py), never by `import smolmamba` itself. Each name gets
a timm entrypoint that forwards its keyword arguments as ModelCfg overrides (an unknown one is a
ValueError listing the valid ones) and a default cfg (input size, mean/std, classes) filed with
timm's generate_default_cfgs, so timm.get_pretrained_cfg(name) and timm.data.resolve_data_config
work. smolmamba ships no weights: pretrained=True is an error naming the way to load a checkpoint.
"""

from __future__ import annotations

from timm.models import generate_default_cfgs, is_model, register_model

from smolmamba.models import registry
from smolmamba.models.pretrained import pretrained_cfg, timm_fields

default_cfgs: dict = {}  # timm's register_model reads this module's default_cfgs[name]
_registered: set[str] = set()


def _entrypoint(name: str):
    """timm's entrypoint signature -> smolmamba.create_model(name, **overrides)."""

    def create(pretrained: bool = False, pretrained_cfg=None, pretrained_cfg_overlay=None, cache_dir=None,
               **overrides):
        if pretrained:
            raise ValueError(f"smolmamba publishes no pretrained weights for {name!r}; train one "
                             f"(`smolmamba train`) and load it with timm.create_model({name!r}, "
                             f"checkpoint_path='<run>/best/model.safetensors') or pass pretrained=False")
        if pretrained_cfg or pretrained_cfg_overlay:
            raise ValueError("pretrained_cfg / pretrained_cfg_overlay describe weight files, which smolmamba "
                             "has none of; model.pretrained_cfg follows the model's own ModelCfg")
        return registry.create_model(name, **overrides)

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
