"""timm's feature interface of SpikingVisionNet: feature levels, index selection, token maps.

Levels: 0 is the patch embedding's output, level i (1..depth) the output of block i - 1; each is a
map [B, D, H/p, W/p] (NCHW; NHWC on request). A level's tokens [T, B, n, D] are averaged over T (as
the head does), then put back at their original grid positions. Pruned positions hold zeros: a
pruned token is a silent token (no spikes, nothing added to the stream), so the map keeps its
[B, D, H/p, W/p] grid whatever the keep ratios. A fused token (EViT, DSTSP; position N) has no
place on the grid and is left out.
"""

from __future__ import annotations

from torch import Tensor

FORMATS = ("NCHW", "NHWC")


def feature_info(depth: int, dim: int, patch_size: int) -> list[dict]:
    """timm's feature_info: one dict per level, num_chs, reduction (the patch size) and module."""
    modules = ["patch_embed"] + [f"blocks.{i}" for i in range(depth)]
    return [dict(num_chs=dim, reduction=patch_size, module=m) for m in modules]


def take_indices(num_levels: int, indices: int | list[int] | tuple[int, ...] | None) -> tuple[list[int], int]:
    """timm's feature_take_indices: None -> every level, int n -> the last n, a list -> those levels
    (negative ones count from the end). -> (levels ascending as given, the largest)."""
    if indices is None:
        indices = num_levels
    if isinstance(indices, int):
        if not 0 < indices <= num_levels:
            raise ValueError(f"last-n indices={indices} must lie in 1..{num_levels} (the model's feature levels)")
        take = list(range(num_levels - indices, num_levels))
    else:
        take = [num_levels + i if i < 0 else i for i in indices]
        bad = [i for i in take if not 0 <= i < num_levels]
        if bad:
            raise ValueError(f"feature indices {list(indices)} out of range: the model has levels 0..{num_levels - 1} "
                             f"(0: patch embedding, i: block i - 1)")
    return take, max(take)


def token_map(tokens: Tensor, positions: Tensor | None, grid: int, output_fmt: str = "NCHW") -> Tensor:
    """tokens [T, B, n, D] at positions [B, n] (None: all grid**2 tokens in order) -> the mean over T
    on the grid, zeros at pruned positions: [B, D, grid, grid] (NCHW) or [B, grid, grid, D] (NHWC)."""
    if output_fmt not in FORMATS:
        raise ValueError(f"output_fmt={output_fmt!r} is not supported; use one of {FORMATS}")
    mean = tokens.mean(dim=0)  # (B, n, D)
    if positions is not None:
        b, _, d = mean.shape
        slots = mean.new_zeros(b, grid * grid + 1, d)  # the last slot takes a fused token, then is cut
        index = positions.clamp_max(grid * grid).unsqueeze(-1).expand(-1, -1, d)
        mean = slots.scatter(1, index, mean)[:, : grid * grid]  # (B, N, D)
    maps = mean.unflatten(1, (grid, grid))  # (B, H/p, W/p, D)
    return maps.permute(0, 3, 1, 2) if output_fmt == "NCHW" else maps
