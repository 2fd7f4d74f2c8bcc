"""Upsampling of maps computed by stride-2 3x3 convolutions back onto the input pixels.

A stride-2 3x3 convolution with padding 1 centres its output ``j`` on input ``2 j``, so after ``n`` of them, cell
``j`` sits on input pixel ``f j`` with ``f = 2^n``: interpolating with ``align_corners=True`` onto ``f (n - 1) + 1``
samples keeps that alignment exactly, and the remaining ``f - 1`` pixels repeat the last sample.
"""

import torch
import torch.nn.functional as F


def upsample_aligned(x: torch.Tensor, factor: int, candidates: bool = False) -> torch.Tensor:
    """Interpolate (B, C, h, w) to (B, C, f h, f w), or (B, C, D, h, w) to (B, C, f (D - 1) + 1, f h, f w) with
    ``candidates``, such that coarse cell ``j`` lands on fine sample ``f j`` (align_corners on ``f (n - 1) + 1``
    samples); the last ``f - 1`` rows and columns repeat the last sample."""
    f = factor
    spatial = [f * (n - 1) + 1 for n in x.shape[-2:]]
    if candidates:
        size, mode = [f * (x.shape[-3] - 1) + 1, *spatial], "trilinear"
    else:
        size, mode = spatial, "bilinear"
    x = F.interpolate(x, size=size, mode=mode, align_corners=True)
    pad = (0, f - 1, 0, f - 1) + ((0, 0) if candidates else ())
    return F.pad(x, pad, mode="replicate")
