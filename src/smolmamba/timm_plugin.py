"""File smolmamba's models with timm when timm is imported, whichever of the two comes first.

`import smolmamba` stays light (timm and torch take seconds to import): if timm is already
imported the models are filed at once, else a finder on sys.meta_path waits for `import timm`
and files them right after timm's own module has run. It removes itself on first use.
"""

from __future__ import annotations

import sys

TIMM = "timm"


def register_with_timm() -> None:
    """Import smolmamba.models.timm_models, which files every registered model with timm."""
    import smolmamba.models.timm_models  # noqa: F401


class _AfterTimmImport:
    """A meta path finder that wraps timm's loader so register_with_timm runs after timm loads."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TIMM:
            return None
        import importlib.util  # here, not at the top: `import smolmamba` skips its ~15 ms

        sys.meta_path.remove(self)  # once; also keeps the find_spec below from finding us
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            register_with_timm()

        spec.loader.exec_module = exec_then_register
        return spec


def install() -> None:
    """Register now if timm is imported, else once it is (idempotent)."""
    if TIMM in sys.modules:
        register_with_timm()
    elif not any(isinstance(f, _AfterTimmImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterTimmImport())
