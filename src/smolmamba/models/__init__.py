"""Models: config, registry, the spiking vision network and its registered variants."""

from smolmamba.models.config import InputCfg, ModelCfg, NeuronCfg, PruningCfg, SMixerCfg, SSACfg, SSMCfg
from smolmamba.models.network import SpikingVisionNet, count_parameters, tokens_per_stage
from smolmamba.models.registry import create_model, list_models, model_cfg, register_model
from smolmamba.models.rebuild import load_weights, rebuild

from smolmamba.models import peers, smolmamba  # noqa: F401  (their decorators fill the registry)

__all__ = ["InputCfg", "ModelCfg", "NeuronCfg", "PruningCfg", "SMixerCfg", "SSACfg", "SSMCfg",
           "SpikingVisionNet", "count_parameters", "tokens_per_stage", "create_model",
           "list_models", "load_weights", "model_cfg", "rebuild", "register_model"]
