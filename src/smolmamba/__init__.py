"""Vision SmolMamba: spiking state-space vision with spike-guided token pruning."""

__version__ = "0.1.0"

__all__ = ["ModelCfg", "create_model", "list_models", "__version__"]

from smolmamba import timm_plugin as _timm_plugin  # noqa: E402

_timm_plugin.install()  # timm.create_model("smolmamba_tiny") works once timm is imported


def __getattr__(name: str):
    """Lazy access to the model API, so `import smolmamba` stays cheap for the CLI and submodules."""
    if name in ("ModelCfg", "create_model", "list_models"):
        from smolmamba import models

        return getattr(models, name)
    raise AttributeError(f"module 'smolmamba' has no attribute {name!r}")
