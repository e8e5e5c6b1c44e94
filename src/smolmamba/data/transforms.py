"""Image transforms (timm for natural images, a light affine for digits) and Mixup/CutMix."""

from __future__ import annotations

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, Mixup, create_transform
from torchvision.transforms import v2

RAND_AUGMENT = "rand-m9-mstd0.5-inc1"


def image_train_transform(img_size: int, mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD,
                          auto_augment: str | None = RAND_AUGMENT, re_prob: float = 0.25,
                          scale: tuple[float, float] = (0.08, 1.0), hflip: float = 0.5):
    """PIL image -> [3, img_size, img_size]: random resized crop, flip, RandAugment, erasing."""
    return create_transform(img_size, is_training=True, auto_augment=auto_augment, re_prob=re_prob,
                            scale=scale, hflip=hflip, interpolation="bicubic", mean=mean, std=std)


def image_eval_transform(img_size: int, mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD,
                         crop_pct: float = 0.875):
    """PIL image -> [3, img_size, img_size]: resize to img_size / crop_pct, centre crop."""
    return create_transform(img_size, is_training=False, crop_pct=crop_pct,
                            interpolation="bicubic", mean=mean, std=std)


def digits_train_transform():
    """[C, H, W] -> [C, H, W]: rotate <= 10 deg, shift <= 10%, scale 0.9-1.1; no flips."""
    return v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))


def make_mixup(num_classes: int, mixup: float = 0.8, cutmix: float = 1.0,
               label_smoothing: float = 0.1, prob: float = 1.0) -> Mixup | None:
    """timm Mixup/CutMix on a batch -> (mixed x, soft targets [B, num_classes]); None when both
    alphas are 0 (then apply label_smoothing in the loss). Event batches [B, T, 2, H, W] must be
    reshaped to [B, T*2, H, W] first so CutMix cuts H and W."""
    if mixup <= 0 and cutmix <= 0:
        return None
    return Mixup(mixup_alpha=mixup, cutmix_alpha=cutmix, prob=prob,
                 label_smoothing=label_smoothing, num_classes=num_classes)
