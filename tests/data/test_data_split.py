from collections import Counter

import pytest
from torch.utils.data import Subset

from smolmamba.data.split import carve_validation, class_labels, validation_indices


class Labelled:
    def __init__(self, labels, tag=""):
        self.labels, self.tag = labels, tag

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return f"{self.tag}{i}", self.labels[i]


def test_validation_split_is_stratified_disjoint_and_complete():
    labels = [0] * 40 + [1] * 20 + [2] * 10 + [3] * 3
    train, val = validation_indices(labels, len(labels), 0.2, seed=5)
    assert sorted(train + val) == list(range(len(labels))) and not set(train) & set(val)
    assert Counter(labels[i] for i in val) == {0: 8, 1: 4, 2: 2, 3: 1}  # round(0.2 * class size)
    assert train == sorted(train) and val == sorted(val)


def test_split_depends_on_its_seed_only():
    labels = [i % 4 for i in range(200)]
    assert validation_indices(labels, 200, 0.15, seed=1) == validation_indices(list(labels), 200, 0.15, seed=1)
    assert validation_indices(labels, 200, 0.15, seed=1)[1] != validation_indices(labels, 200, 0.15, seed=2)[1]


def test_every_class_keeps_a_training_sample():
    train, val = validation_indices([0, 1, 1], 3, 0.9)
    assert {0, 1} <= {[0, 1, 1][i] for i in train} and len(val) == 1


def test_unlabelled_data_gets_a_random_split():
    train, val = validation_indices(None, 100, 0.25, seed=0)
    assert len(val) == 25 and len(train) == 75 and val != list(range(75, 100))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_bad_fraction_is_rejected(fraction):
    with pytest.raises(ValueError, match="val_fraction must be in"):
        validation_indices([0, 1], 2, fraction)


def test_fraction_that_holds_out_nothing_is_rejected():
    with pytest.raises(ValueError, match="holds out no sample"):
        validation_indices([0, 1, 2, 3], 4, 0.1)


def test_carve_uses_the_eval_view_for_validation_and_reads_labels_through_subsets():
    labels = [i % 2 for i in range(20)]
    train_view, eval_view = Labelled(labels, "aug"), Labelled(labels, "plain")
    assert class_labels(Subset(eval_view, [3, 4, 5])) == [1, 0, 1]
    train, val = carve_validation(Subset(train_view, range(10)), Subset(eval_view, range(10)), 0.2)
    assert len(train) == 8 and len(val) == 2
    assert all(x.startswith("plain") for x, _ in val) and all(x.startswith("aug") for x, _ in train)
    assert sorted(y for _, y in val) == [0, 1]
    with pytest.raises(ValueError, match="differ in length"):
        carve_validation(train_view, Subset(eval_view, range(10)), 0.2)
