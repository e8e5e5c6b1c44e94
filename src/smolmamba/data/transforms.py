"""Image transforms (timm for natural images, a light affine for digits) and Mixup/CutMix.

RandAugment is timm's, with the paper's policy and magnitudes (rand-m9-mstd0.5-inc1), and one
guard: a posterize op keeps at least 1 bit. timm maps magnitude 10, which the magnitude noise reaches
(about 0.4 % of draws), to "keep 0 bits", a black image; Pillow >= 13 refuses 0 bits with a ValueError
that would end the run. 1 bit is the strongest posterize Pillow accepts; every other op and draw is
timm's unchanged.
"""

from __future__ import annotations

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, Mixup, create_transform
from timm.data.auto_augment import AugmentOp, posterize
from torchvision.transforms import v2

RAND_AUGMENT = "rand-m9-mstd0.5-inc1"


class AtLeastOneBit:
    """Wraps a posterize op's level function: magnitude -> (bits to keep,), at least 1."""

    def __init__(self, level_fn):
        self.level_fn = level_fn

    def __call__(self, magnitude: float, hparams: dict) -> tuple[int]:
        (bits,) = self.level_fn(magnitude, hparams)
        return (max(1, bits),)


def guard_posterize(transform):
    """Give every timm posterize op inside `transform` (Compose, RandAugment, AutoAugment) the 1-bit
    floor; returns the transform. Ops reached: anything listed in .transforms, .ops or .policy."""
    if isinstance(transform, AugmentOp):
        if transform.aug_fn is posterize and not isinstance(transform.level_fn, AtLeastOneBit):
            transform.level_fn = AtLeastOneBit(transform.level_fn)
        return transform
    for attr in ("transforms", "ops"):
        for child in getattr(transform, attr, None) or ():
            guard_posterize(child)
    for sub_policy in getattr(transform, "policy", None) or ():
        for op in sub_policy:
            guard_posterize(op)
    return transform


def image_train_transform(img_size: int, mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD,
                          auto_augment: str | None = RAND_AUGMENT, re_prob: float = 0.25,
                          scale: tuple[float, float] = (0.08, 1.0), hflip: float = 0.5):
    """PIL image -> [3, img_size, img_size]: random resized crop, flip, RandAugment, erasing."""
    return guard_posterize(create_transform(img_size, is_training=True, auto_augment=auto_augment,
                                            re_prob=re_prob, scale=scale, hflip=hflip, interpolation="bicubic",
                                            mean=mean, std=std))


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
