import pytest

from smolmamba.data.registry import DatasetInfo, build_dataset, list_datasets


def test_names():
    assert list_datasets() == sorted(["digits", "nmnist_digits", "cifar10", "cifar100", "imagenet",
                                      "imagefolder", "dvs_gesture", "cifar10_dvs"])


def test_unknown_name_lists_and_suggests():
    with pytest.raises(ValueError, match=r"valid names: .*dvs_gesture.*Did you mean 'dvs_gesture'"):
        build_dataset("dvs_gestures")


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagenet", "imagefolder", "dvs_gesture", "cifar10_dvs"])
def test_root_required(name):
    with pytest.raises(ValueError, match="needs root="):
        build_dataset(name)


def test_bad_arguments():
    with pytest.raises(ValueError, match="on_bad_file"):
        build_dataset("digits", on_bad_file="ignore")
    with pytest.raises(ValueError, match="split"):
        build_dataset("digits", split="val")


def test_digits_and_nmnist_digits_info(tmp_path):
    ds, info = build_dataset("digits", split="test", img_size=16, augment=True)
    assert info == DatasetInfo(num_classes=10, in_chans=1, img_size=16, T=None, kind="image")
    assert ds[0][0].shape == (1, 16, 16)
    ds, info = build_dataset("nmnist_digits", split="test", T=4, img_size=16, cache_dir=tmp_path, augment=True)
    assert info == DatasetInfo(num_classes=10, in_chans=2, img_size=16, T=4, kind="events")
    assert ds[0][0].shape == (4, 2, 16, 16) and len(ds) == 450


def test_dataset_for_model_builds_at_the_model_size_and_checks_the_fit(tmp_path):
    from smolmamba.data.model_input import dataset_for_model
    from smolmamba.models import model_cfg

    cfg = model_cfg("smolmamba_tiny_events", time_steps=3, img_size=8)
    ds, info = dataset_for_model("nmnist_digits", cfg, "test", cache_dir=tmp_path)
    assert info == DatasetInfo(num_classes=10, in_chans=2, img_size=8, T=3, kind="events")
    assert ds[0][0].shape == (3, 2, 8, 8)
    with pytest.raises(ValueError, match="yields image, the model takes events"):
        dataset_for_model("digits", cfg, "test")
    grey = model_cfg("smolmamba_tiny", num_classes=5, in_chans=3)
    with pytest.raises(ValueError, match="10 classes, the model 5: build it with num_classes=10"):
        dataset_for_model("digits", grey, "test")
    with pytest.raises(ValueError, match="1 channels, the model takes 3"):
        dataset_for_model("digits", grey.replace(num_classes=10), "test")
    _, info = dataset_for_model("digits", grey, "test", classes=False, channels=False)  # measured on any data
    assert info.in_chans == 1
