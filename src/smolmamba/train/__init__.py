"""Training and evaluation: config (TrainConfig, load_config), loop (train_one_epoch, evaluate, main),
checkpoint (atomic, hash-verified folders), distributed (torchrun/DDP), evaluation (checkpoint -> metrics)."""

from smolmamba.train.config import TrainConfig, load_config
from smolmamba.train.evaluation import evaluate_checkpoint
from smolmamba.train.loop import evaluate, main, train_one_epoch

__all__ = ["TrainConfig", "load_config", "evaluate_checkpoint", "evaluate", "main", "train_one_epoch"]
