"""OpenCV SGBM followed by a learned, image-guided refinement: a classical matcher whose failures a CNN corrects.

SGBM's matched disparities are accurate wherever its census-like cost and smoothness prior hold, on synthetic and
real photographs alike; its errors are structured: holes (occlusions, textureless areas, the left border) filled by
KITTI's background interpolation, fattened foreground at depth edges, streaks along rows. A network that sees the
left image, SGBM's filled disparity, which pixels SGBM matched, and how well the right image warped by that
disparity reproduces the left one learns where to trust SGBM and what to put elsewhere. It is trained on recon's
synthetic pairs only; because its input is SGBM's output rather than raw pixels, what it learns depends less on how
synthetic images look than a network matching pixels itself (the hybrid design of learned refinement on top of
classical stereo, as in SGM-Net-era pipelines; the matcher here stays untouched OpenCV).

``forward(left, right)`` with ``(B, 3, H, W)`` images in [0, 1] returns ``{"disparity": (B, 1, H, W)}`` (>= 0),
plus ``"sgbm"`` (SGBM filled) and ``"sgbm_matched"`` (bool) for inspection. SGBM runs on the CPU without gradients; the
refinement (:class:`~recon.models.blocks.refinement.DisparityRefinement` with 2 guidance channels: matched mask and
photometric error) runs on the images' device. ``max_disparity`` is SGBM's search range and the refinement's
disparity scale, so a pair with another range (``max_disparity=`` at inference) is searched fully with the same
weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recon.geometry.disparity import warp_right_to_left
from recon.models.blocks import NORMS, DisparityRefinement
from recon.models.blocks.sgbm import SGBMStereo


class SGBMRefinedStereo(nn.Module):
    """SGBM (holes filled) -> :class:`DisparityRefinement` guided by the matched mask and the photometric error.

    Args:
        max_disparity: search range (px) of SGBM and the scale of the refinement's disparity input.
        channels: width of the refinement network.
        dilations: one residual 3x3 convolution per entry (its dilation); the receptive field grows with their sum
            and has to span the holes SGBM leaves (occlusions tens of pixels wide).
        norm: ``batch``, ``group`` or ``none``.
        sgbm: keyword arguments of :class:`~recon.models.blocks.sgbm.SGBMStereo` (block size, penalties, ...).
    """

    problem = "stereo"
    inputs = ("left", "right")

    def __init__(
        self,
        max_disparity: float = 192,
        channels: int = 32,
        dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 1),
        norm: str = "batch",
        sgbm: dict | None = None,
    ):
        super().__init__()
        if not max_disparity > 0:
            raise ValueError(f"model.max_disparity must be > 0, got {max_disparity}")
        if channels < 1 or not dilations or min(dilations) < 1:
            raise ValueError(f"model.channels and each model.dilations entry must be >= 1: {channels}, {dilations}")
        if norm not in NORMS:
            raise ValueError(f"model.norm must be one of {NORMS}, got {norm!r}")
        sgbm = dict(sgbm or {})
        if "max_disparity" in sgbm or "fill_holes" in sgbm:
            raise ValueError("model.sgbm cannot set max_disparity or fill_holes (the model's own settings)")
        self.max_disparity = float(max_disparity)
        self.sgbm = SGBMStereo(max_disparity=max_disparity, fill_holes=True, **sgbm)
        self.refine = DisparityRefinement(channels, tuple(dilations), norm, guidance_channels=2)

    def forward(self, left: Tensor, right: Tensor) -> dict[str, Tensor]:
        classical = self.sgbm(left, right)
        filled, matched = classical["disparity"].to(left.dtype), classical["matched"]
        warped, in_bounds = warp_right_to_left(right, filled)
        error = torch.where(in_bounds, (warped - left).abs().mean(1, keepdim=True), torch.ones_like(filled))
        guidance = torch.cat([matched.to(left.dtype) * 2 - 1, error], dim=1)
        disparity = self.refine(filled, left, self.max_disparity, guidance)
        return {"disparity": disparity, "sgbm": filled, "sgbm_matched": matched}
