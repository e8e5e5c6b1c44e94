import numpy as np
import pytest
import torch

from smolmamba.data.digits import Digits, load_digits_split
from smolmamba.data.transforms import digits_train_transform


def test_split_sizes_stratified_disjoint():
    tr_x, tr_y = load_digits_split("train")
    te_x, te_y = load_digits_split("test")
    assert len(tr_y) == 1347 and len(te_y) == 450
    assert set(tr_y) == set(te_y) == set(range(10))
    assert np.bincount(te_y).min() >= 43  # ~45 per class
    assert tr_x.min() == 0.0 and tr_x.max() == 1.0
    train_rows = {row.tobytes() for row in tr_x}
    assert sum(row.tobytes() in train_rows for row in te_x) < 10  # a few duplicate digits exist in the data


def test_deterministic():
    a, b = load_digits_split("test"), load_digits_split("test")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("img_size,in_chans", [(32, 1), (16, 3)])
def test_dataset_shapes(img_size, in_chans):
    ds = Digits("test", img_size=img_size, in_chans=in_chans)
    x, y = ds[3]
    assert x.shape == (in_chans, img_size, img_size) and x.dtype == torch.float32
    assert isinstance(y, int) and 0 <= y <= 9
    assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0


def test_light_augmentation_keeps_shape():
    ds = Digits("train", img_size=32, transform=digits_train_transform())
    assert ds[0][0].shape == (1, 32, 32)
    with pytest.raises(ValueError, match="in_chans"):
        Digits("train", in_chans=2)
