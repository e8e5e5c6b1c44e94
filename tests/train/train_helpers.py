"""Shared settings of the training tests: a very small smolmamba_tiny on a slice of digits."""

TINY_MODEL = {"embed_dim": 16, "depth": 2, "keep_ratios": [0.7, 0.5]}


def tiny_overrides(output, **extra) -> list[str]:
    """key=value overrides for a quick CPU run writing into `output`."""
    opts = {"model": "smolmamba_tiny", "dataset": "digits", "train_subset": 128, "batch_size": 32,
            "epochs": 2, "lr": 3e-3, "warmup_epochs": 0.5, "output": str(output), "tensorboard": False,
            **extra}
    pairs = [f"{k}={v}" for k, v in opts.items()]
    return pairs + [f"model.{k}={v}" for k, v in TINY_MODEL.items()]
