"""How well a disparity map warps the right view of a stereo item onto its left view."""

import torch
import torch.nn.functional as F


def photometric_error(item, disparity: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean |left - right sampled at (x - d, y)| (bilinear) over ``mask`` pixels that land inside the right image."""
    left, right = item["left"], item["right"]
    H, W = disparity.shape
    x = torch.arange(W, dtype=torch.float32)[None].expand(H, W) - disparity
    y = torch.arange(H, dtype=torch.float32)[:, None].expand(H, W)
    grid = torch.stack([2 * x / (W - 1) - 1, 2 * y / (H - 1) - 1], dim=-1)[None]
    warped = F.grid_sample(right[None], grid, mode="bilinear", align_corners=True)[0]
    inside = mask & (x >= 0) & (x <= W - 1)
    return (warped - left).abs().mean(0)[inside].mean().item()
