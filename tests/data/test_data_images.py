import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from smolmamba.data.images import Cifar, image_folder
from smolmamba.data.registry import build_dataset
from smolmamba.data.transforms import make_mixup


def write_cifar10(root, n_per_batch=4, n_test=3):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def dump(name, obj):
        with open(folder / name, "wb") as f:
            pickle.dump(obj, f, protocol=2)

    for i in range(1, 6):
        dump(f"data_batch_{i}", {b"batch_label": f"training batch {i} of 5".encode(),
                                 b"labels": rng.integers(0, 10, n_per_batch).tolist(),
                                 b"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                                 b"filenames": [b"x.png"] * n_per_batch})
    data = np.zeros((n_test, 3072), np.uint8)
    data[0, :1024] = 255  # first test image pure red
    dump("test_batch", {b"labels": [3, 1, 4], b"data": data})
    dump("batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072})


def test_cifar10_pickle_folder(tmp_path):
    write_cifar10(tmp_path)
    train, test = Cifar(tmp_path, "train"), Cifar(tmp_path, "test")
    assert len(train) == 20 and len(test) == 3 and test.labels == [3, 1, 4]
    img, label = test[0]
    assert img.size == (32, 32) and img.getpixel((5, 7)) == (255, 0, 0) and label == 3
    ds, info = build_dataset("cifar10", root=tmp_path, split="test")
    x, _ = ds[0]
    assert x.shape == (3, 32, 32) and info.num_classes == 10 and info.T is None
    aug, _ = build_dataset("cifar10", root=tmp_path, augment=True)
    assert aug[0][0].shape == (3, 32, 32)


def test_cifar_missing_names_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py.*data_batch_1"):
        Cifar(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        Cifar(tmp_path, "test", num_classes=100)


def make_tree(root, classes=("cat", "dog"), n=2, mode="RGB"):
    for split in ("train", "val"):
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                colour = (i * 50, 10, 200) if mode == "RGB" else i * 50
                Image.new(mode, (20, 24), colour).save(d / f"{i}.png")


def test_grey_folder_is_read_as_one_channel(tmp_path):
    make_tree(tmp_path, mode="L")
    for augment in (False, True):
        ds, info = build_dataset("imagefolder", root=tmp_path, split="train", img_size=32, augment=augment)
        assert info.in_chans == 1 and ds[0][0].shape == (1, 32, 32)
    test, info = build_dataset("imagefolder", root=tmp_path, split="test", img_size=32)
    assert info.in_chans == 1 and test[0][0].shape == (1, 32, 32)


def test_a_folder_mixing_grey_and_colour_is_colour(tmp_path):
    make_tree(tmp_path, mode="L")
    Image.new("RGB", (20, 24), (1, 2, 3)).save(tmp_path / "train" / "dog" / "0.png")  # sampled first
    ds, info = build_dataset("imagefolder", root=tmp_path, split="train", img_size=32)
    assert info.in_chans == 3 and all(ds[i][0].shape == (3, 32, 32) for i in range(len(ds)))


def test_imagenet_subset_takes_its_class_count_from_the_folder(tmp_path):
    make_tree(tmp_path, classes=("n01440764", "n01443537", "n01484850"))
    ds, info = build_dataset("imagenet", root=tmp_path, split="train", img_size=32)
    assert info.num_classes == 3 and info.in_chans == 3 and ds[0][0].shape == (3, 32, 32)


def test_image_folder_and_empty_class(tmp_path):
    make_tree(tmp_path)
    ds, info = build_dataset("imagefolder", root=tmp_path, split="test", img_size=32)
    assert len(ds) == 4 and info.num_classes == 2 and ds[3][0].shape == (3, 32, 32) and ds[3][1] == 1
    (tmp_path / "train" / "zebra").mkdir()
    with pytest.raises(FileNotFoundError, match=r"(?s)zebra.*hold no images.*<class_a>"):
        image_folder(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_folder(tmp_path / "nope", "train")


def test_make_mixup():
    mix = make_mixup(10)
    x, y = mix(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]))
    assert x.shape == (4, 3, 8, 8) and y.shape == (4, 10)
    assert torch.allclose(y.sum(1), torch.ones(4))
    assert make_mixup(10, mixup=0.0, cutmix=0.0) is None
