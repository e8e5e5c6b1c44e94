"""Training and evaluation: config (TrainConfig, load_config), loop (main: the run, top to bottom),
setup (model, data, optimizer, loaders), epoch (train_one_epoch, evaluate), state (counters, RNG, save
and restore), signals (SIGINT/SIGTERM), checkpoint (atomic, hash-verified folders), distributed
(torchrun/DDP), evaluation (checkpoint -> metrics)."""

from smolmamba.train.config import TrainConfig, load_config
from smolmamba.train.evaluation import evaluate_checkpoint
from smolmamba.train.epoch import evaluate, train_one_epoch
from smolmamba.train.loop import main

__all__ = ["TrainConfig", "load_config", "evaluate_checkpoint", "evaluate", "main", "train_one_epoch"]
