"""Input and size presets shared by the registered variants (smolmamba.py, peers.py): one place each.

Each is a dict of flat ModelCfg options; a variant combines an input/size preset with a mixer/pruner one,
e.g. ModelCfg.from_flat(**TINY, pruner=None). The sizes behind each choice are given where the variants are.
They hold no mixer option (the SSM's d_state, SSA's num_heads): each variant adds its mixer's.
"""

TINY = dict(img_size=16, patch_size=2, in_chans=1, num_classes=10, embed_dim=64, depth=4, time_steps=4)
TINY_EVENTS = dict(TINY, in_chans=2, events=True, time_steps=4)
CIFAR = dict(img_size=32, patch_size=4, in_chans=3, num_classes=10, embed_dim=384, depth=4, time_steps=4)
IMAGENET_INPUT = dict(img_size=224, patch_size=16, in_chans=3, num_classes=1000, time_steps=4)
DVS = dict(img_size=128, patch_size=16, in_chans=2, events=True, num_classes=10, embed_dim=256, depth=2,
           time_steps=16)
