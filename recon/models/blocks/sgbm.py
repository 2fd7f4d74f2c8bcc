"""OpenCV's semi-global block matching (Hirschmueller, TPAMI 2008) behind the stereo model interface: the model
``model=sgbm`` (:mod:`recon.models.sgbm`), the stereo task's reference, and the first stage of
``model=sgbm_refined``."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from recon.geometry.disparity import fill_disparity_holes

# mode name -> cv2 constant name
MODES = {
    "sgbm": "STEREO_SGBM_MODE_SGBM",  # 5 directions, one pass
    "sgbm_3way": "STEREO_SGBM_MODE_SGBM_3WAY",  # 3 directions, fastest
    "hh": "STEREO_SGBM_MODE_HH",  # 8 directions, two passes, O(W * H * num_disparities) memory
    "hh4": "STEREO_SGBM_MODE_HH4",  # 4 directions
}


def sgbm_band(max_disparity: float) -> int:
    """OpenCV's ``num_disparities`` for a search below ``max_disparity`` (the next multiple of 16), which is also
    the number of left-most image columns SGBM never matches (with ``minDisparity = 0``)."""
    return 16 * math.ceil(max_disparity / 16)


def _cv2():
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("SGBMStereo needs OpenCV: pip install opencv-python-headless") from e
    return cv2


class SGBMStereo(nn.Module):
    """OpenCV ``StereoSGBM`` behind the stereo model interface (no parameters, nothing to train).

    ``forward(left, right)`` with (B, 3, H, W) (or (B, 1, H, W)) float images in [0, 1] returns
    ``{"disparity": (B, 1, H, W) float32, "matched": (B, 1, H, W) bool}`` on the input device. ``matched`` marks
    the pixels SGBM produced a disparity for; the others are filled (``fill_holes=True``) by KITTI's background
    interpolation (:func:`~recon.geometry.disparity.fill_disparity_holes`: the smaller of the nearest matched
    disparities left and right in the row), which is what the KITTI devkit applies to sparse submissions before
    scoring, or set to 0 (``fill_holes=False``). SGBM never matches the ``num_disparities`` left-most columns,
    so those are always filled from the right.

    Images are quantised to uint8 (``round(255 * x)``) and converted to grey (OpenCV's BT.601 weights) unless
    ``color=True``, which matches all three channels. Any H, W works (OpenCV rejects images narrower than
    ``num_disparities + block_size // 2 + 1``; those are edge-padded on the right and the result cropped back);
    B images run one after another on CPU.

    Args:
        max_disparity: largest disparity searched (exclusive). OpenCV needs a multiple of 16, so the search uses
            ``num_disparities = 16 * ceil(max_disparity / 16)``; :attr:`max_disparity` keeps the requested value.
        block_size: odd matching window side (pixels).
        p1, p2: smoothness penalties for disparity changes of 1 and of more than 1 between neighbours. Default
            ``8 * C * block_size**2`` and ``32 * C * block_size**2`` with C the number of matched channels (1 grey,
            3 colour), the rule of OpenCV's documentation and ``stereo_match`` sample.
        uniqueness_ratio: percent margin by which the best cost must beat the second best (0 disables).
        speckle_window_size: largest connected region (pixels) invalidated as a speckle (0 disables).
        speckle_range: largest disparity variation inside a connected region (pixels).
        disp12_max_diff: left-right check tolerance in integer pixels (negative disables).
        pre_filter_cap: clip of the x-derivative pre-filter.
        mode: ``"sgbm"`` (default), ``"sgbm_3way"``, ``"hh"`` or ``"hh4"`` (see :data:`MODES`).
        color: match RGB instead of grey.
        fill_holes: fill unmatched pixels (True) or set them to 0 (False).
    """

    problem = "stereo"
    inputs = ("left", "right")
    trainable = False

    def __init__(
        self,
        max_disparity: int = 192,
        block_size: int = 5,
        p1: int | None = None,
        p2: int | None = None,
        uniqueness_ratio: int = 10,
        speckle_window_size: int = 100,
        speckle_range: int = 2,
        disp12_max_diff: int = 1,
        pre_filter_cap: int = 63,
        mode: str = "sgbm",
        color: bool = False,
        fill_holes: bool = True,
    ):
        super().__init__()
        cv2 = _cv2()
        if not max_disparity > 0:
            raise ValueError(f"max_disparity must be > 0, got {max_disparity}")
        if block_size < 1 or block_size % 2 == 0:
            raise ValueError(f"block_size must be an odd number >= 1, got {block_size}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {tuple(MODES)}, got {mode!r}")
        channels = 3 if color else 1
        p1 = 8 * channels * block_size**2 if p1 is None else int(p1)
        p2 = 32 * channels * block_size**2 if p2 is None else int(p2)
        if not 0 <= p1 < p2:
            raise ValueError(f"SGBM needs 0 <= p1 < p2, got p1={p1}, p2={p2}")
        self.max_disparity = max_disparity
        self.num_disparities = sgbm_band(max_disparity)
        self.block_size, self.p1, self.p2, self.mode = block_size, p1, p2, mode
        self.color, self.fill_holes = color, fill_holes
        # Keyword arguments of cv2.StereoSGBM_create; the matcher is built per call (microseconds) so that the
        # module stays picklable and deep-copyable (OpenCV objects are neither).
        self.sgbm_kwargs = dict(
            minDisparity=0,
            numDisparities=self.num_disparities,
            blockSize=block_size,
            P1=p1,
            P2=p2,
            disp12MaxDiff=disp12_max_diff,
            preFilterCap=pre_filter_cap,
            uniquenessRatio=uniqueness_ratio,
            speckleWindowSize=speckle_window_size,
            speckleRange=speckle_range,
            mode=getattr(cv2, MODES[mode]),
        )

    def _to_uint8(self, images: torch.Tensor) -> np.ndarray:
        """(B, C, H, W) in [0, 1] -> (B, H, W) grey or (B, H, W, 3) colour uint8."""
        u8 = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        if images.shape[1] == 1:
            return np.ascontiguousarray(np.repeat(u8, 3, axis=-1) if self.color else u8[..., 0])
        if self.color:
            return np.ascontiguousarray(u8)
        cv2 = _cv2()
        return np.stack([cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in u8])

    @torch.no_grad()
    def forward(self, left: torch.Tensor, right: torch.Tensor) -> dict[str, torch.Tensor]:
        for name, t in (("left", left), ("right", right)):
            if t.ndim != 4 or t.shape[1] not in (1, 3):
                raise ValueError(f"{name} must be (B, 3, H, W) or (B, 1, H, W), got {tuple(t.shape)}")
        if left.shape != right.shape:
            raise ValueError(f"left and right must have one shape, got {tuple(left.shape)} and {tuple(right.shape)}")
        lefts, rights = self._to_uint8(left), self._to_uint8(right)
        # OpenCV refuses images narrower than num_disparities + block_size // 2 + 1: pad such images on the right
        # (edge replication), which leaves the disparity of every original column defined, then crop.
        width = lefts.shape[2]
        pad = max(0, self.num_disparities + self.block_size // 2 + 1 - width)
        if pad:
            widths = [(0, 0), (0, 0), (0, pad)] + [(0, 0)] * (lefts.ndim - 3)
            lefts, rights = np.pad(lefts, widths, mode="edge"), np.pad(rights, widths, mode="edge")
        matcher = _cv2().StereoSGBM_create(**self.sgbm_kwargs)
        # int16 fixed point with 4 fractional bits; unmatched pixels are (minDisparity - 1) * 16 < 0.
        raw = np.stack([matcher.compute(lu, ru) for lu, ru in zip(lefts, rights)])[:, :, :width]
        raw = torch.from_numpy(raw.astype(np.float32)).unsqueeze(1)
        matched = raw >= 0
        disparity = raw / 16.0
        if self.fill_holes:
            disparity = fill_disparity_holes(disparity, matched)
        else:
            disparity = torch.where(matched, disparity, torch.zeros_like(disparity))
        return {"disparity": disparity.to(left.device), "matched": matched.to(left.device)}
