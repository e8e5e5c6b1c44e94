"""Datasets: embedded digits and neuromorphic digits, CIFAR, ImageNet/ImageFolder, DVS Gesture,
CIFAR10-DVS. Images are [C, H, W], event frames [T, 2, H, W] (0 = OFF, 1 = ON)."""

from .aedat import CorruptEventFile, read_aedat2, read_aedat31
from .cifar10_dvs import Cifar10Dvs
from .digits import Digits, load_digits_split
from .dvs_gesture import DvsGesture
from .events import EventAugment, events_to_frames
from .images import Cifar, image_folder
from .neuromorphic_digits import NeuromorphicDigits, SaccadeDvsCfg, default_cache_dir
from .registry import DATASETS, DatasetInfo, build_dataset, list_datasets
from .transforms import image_eval_transform, image_train_transform, make_mixup

__all__ = [
    "CorruptEventFile", "read_aedat2", "read_aedat31", "Cifar10Dvs", "Digits", "load_digits_split",
    "DvsGesture", "EventAugment", "events_to_frames", "Cifar", "image_folder", "NeuromorphicDigits",
    "SaccadeDvsCfg", "default_cache_dir", "DATASETS", "DatasetInfo", "build_dataset", "list_datasets",
    "image_eval_transform", "image_train_transform", "make_mixup",
]
