"""A validation split carved from the training data: stratified by class, fixed by its own seed.

The split never depends on the training seed or the model, so every model and every seed of a
comparison is tuned and stopped on the same held-out images, and the test split is never seen.
"""

from __future__ import annotations

import random

from torch.utils.data import Dataset, Subset


def class_labels(dataset: Dataset) -> list[int] | None:
    """The dataset's per-sample labels when it lists them (`labels` or `targets`), else None."""
    if isinstance(dataset, Subset):
        inner = class_labels(dataset.dataset)
        return None if inner is None else [inner[i] for i in dataset.indices]
    for name in ("labels", "targets"):
        labels = getattr(dataset, name, None)
        if labels is not None:
            return [int(y) for y in labels]
    return None


def validation_indices(labels: list[int] | None, n: int, fraction: float, seed: int = 0) -> tuple[list, list]:
    """-> (train indices, validation indices), sorted: round(fraction * class size) of each class held out.

    Without labels the held-out part is a seeded random round(fraction * n) of all samples. Every class
    keeps at least one training sample; a fraction that would hold out none raises.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {fraction}")
    rng = random.Random(seed)
    groups: dict[int, list[int]] = {}
    for i, y in enumerate(labels if labels is not None else [0] * n):
        groups.setdefault(y, []).append(i)
    held: list[int] = []
    for y in sorted(groups):
        members = groups[y]
        rng.shuffle(members)
        held += members[:min(len(members) - 1, round(fraction * len(members)))]
    if not held:
        raise ValueError(f"val_fraction={fraction} holds out no sample of {n}; raise it or set it to 0")
    held_set = set(held)
    return [i for i in range(n) if i not in held_set], sorted(held)


def carve_validation(train_view: Dataset, eval_view: Dataset, fraction: float, seed: int = 0):
    """Split the training data: -> (training subset of `train_view`, validation subset of `eval_view`).

    `train_view` and `eval_view` are the same samples with the training and the evaluation transform.
    """
    if len(train_view) != len(eval_view):
        raise ValueError(f"training views differ in length ({len(train_view)} vs {len(eval_view)})")
    train_idx, val_idx = validation_indices(class_labels(eval_view), len(eval_view), fraction, seed)
    return Subset(train_view, train_idx), Subset(eval_view, val_idx)
