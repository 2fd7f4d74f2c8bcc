"""Disparity metrics: end-point error, bad-t pixel rates and KITTI D1, DDP-safe.

Definitions, for pixels ``p`` of a mask (one of :data:`REGIONS`), with ``e_p = |pred_p - gt_p|`` in pixels:

- ``epe``: mean ``e_p`` (end-point error; SceneFlow, Mayer et al. CVPR 2016).
- ``bad{t}``: percentage of pixels with ``e_p > t`` (Middlebury "bad t", Scharstein & Szeliski IJCV 2002;
  Middlebury v3 reports bad 0.5/1/2/4). Thresholds are in pixels *of the evaluated resolution*; nothing is
  rescaled when images are downsampled.
- ``d1``: percentage of outliers ``e_p > 3 and e_p > 0.05 * gt_p`` (KITTI 2015 "D1", Menze & Geiger CVPR 2015;
  ``ABS_THRESH 3.0``, ``REL_THRESH 0.05`` in the devkit's ``evaluate_scene_flow.cpp``).

Holes: a method that leaves pixels without a disparity (OpenCV SGBM's unmatched pixels, scored "raw") passes them
as ``holes``. A hole is scored as the disparity 0 (KITTI's PNG value for "no estimate"): ``e_p = gt_p`` in the EPE,
and it is an outlier for every ``bad{t}`` and for ``d1`` whatever its ground truth. Scoring holes instead of
leaving them out keeps every method on the same pixels; the "filled" alternative interpolates them first, as the
KITTI devkit does with sparse submissions (:func:`~recon.geometry.disparity.fill_disparity_holes`).

Regions (:data:`REGIONS`, key suffix in brackets), all subsets of the valid ground truth:

- ``all`` (``_all``): every valid pixel.
- ``nonoccluded`` (``_noc``): valid and visible in the right view (the data's ``nonoccluded``).
- ``matchable`` (``_matchable``): valid pixels whose match can exist for every scored method
  (:func:`matchable_mask`): ``x - gt_p >= 0`` (the match lies inside the right image) and ``x >= band``, with
  ``band`` the columns OpenCV SGBM never matches (its ``num_disparities``, :func:`~recon.models.sgbm.sgbm_band`).
  The stereo task builds this mask once per batch and scores the model, SGBM filled and SGBM raw on it.

Reductions:

- ``reduction="pixels"`` (default): every pixel of every image counts once (sums of errors and of outlier counts
  over the whole split, divided by the number of pixels). This is how the KITTI 2015 devkit aggregates D1 over
  its 200 images (per-image error and pixel counts are summed, then divided) and the usual SceneFlow EPE.
- ``reduction="images"``: the value is computed per image, then averaged over images with equal weights
  (Middlebury computes bad-t per image; its tables then average images with per-dataset weights, which are not
  modelled here). Images with an empty mask are skipped.

An empty evaluation (no masked pixel, or no non-empty image) gives NaN, never 0: an undefined mean is not a
perfect score. Predictions containing NaN or Inf raise ``ValueError`` (anywhere in the map: a NaN is a bug, not
an outlier); ground truth must be finite inside the mask (Middlebury's ``inf`` marks invalid pixels and must be
masked out).

States are per-quantity sums and a count with ``dist_reduce_fx="sum"``, so ``compute()`` is exact over all
processes. In a LightningModule::

    self.test_metrics = nn.ModuleList([StereoMetrics("all", prefix="test/"),
                                       StereoMetrics("nonoccluded", prefix="test/")])
    ...
    for m in self.test_metrics:                                       # in test_step
        m.update(out["disparity"], batch["disparity"], batch[m.mask_key])
    ...
    for m in self.test_metrics:                                       # on_test_epoch_end
        self.log_dict(m.compute()); m.reset()

Keys end in the region tag (``_all`` / ``_noc`` / ``_matchable``, after KITTI's "D1-all" / "D1-noc"), e.g.
``test/epe_noc``.

:func:`disparity_errors` gives ``epe`` and one ``bad{t}`` of a single map (figure captions).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

from recon.metrics.maps import check_map_inputs

__all__ = [
    "BAD_THRESHOLDS",
    "D1_ABS_THRESHOLD",
    "D1_REL_THRESHOLD",
    "REGIONS",
    "BadPixelRate",
    "D1Error",
    "EndPointError",
    "StereoMetrics",
    "disparity_errors",
    "matchable_mask",
]

BAD_THRESHOLDS = (1.0, 2.0, 3.0)
D1_ABS_THRESHOLD = 3.0
D1_REL_THRESHOLD = 0.05
# region -> (key of its mask in the task's region masks, key suffix)
REGIONS = {"all": ("valid", "all"), "nonoccluded": ("nonoccluded", "noc"), "matchable": ("matchable", "matchable")}
REDUCTIONS = ("pixels", "images")


def _bad_name(threshold: float) -> str:
    return f"bad{threshold:g}"


def matchable_mask(valid: Tensor, gt: Tensor, band: int) -> Tensor:
    """Valid pixels every method can match: ``valid & (x >= band) & (x - gt >= 0)``, ``x`` the column index.

    ``valid`` (..., H, W) bool, ``gt`` (..., H, W) left disparities in pixels, ``band`` the number of left-most
    columns a method leaves unmatched (OpenCV SGBM: its ``num_disparities``). Returns a bool mask of ``valid``'s
    shape."""
    x = torch.arange(gt.shape[-1], device=gt.device, dtype=gt.dtype)
    return valid & (x >= band) & (x - gt >= 0)


class StereoMetrics(Metric):
    """EPE, bad-t rates and D1 of left disparity maps over one region of the ground truth.

    Args:
        region: ``"all"`` (every valid ground-truth pixel; pass ``batch["valid"]``), ``"nonoccluded"``
            (valid and visible in the right view; pass ``batch["nonoccluded"]``) or ``"matchable"`` (pass
            :func:`matchable_mask`). Sets :attr:`mask_key` and the key suffix ``_all`` / ``_noc`` /
            ``_matchable``; the metric scores exactly the mask it is given.
        reduction: ``"pixels"`` (default, pixel-weighted over the split) or ``"images"`` (mean of per-image
            values), see the module docstring.
        bad_thresholds: thresholds ``t`` in pixels for the ``bad{t}`` keys (default 1, 2, 3).
        prefix: prepended to every key, e.g. ``"test/"``.

    ``update(pred (B, 1, H, W), gt (B, 1, H, W), mask (B, 1, H, W) bool, holes (B, 1, H, W) bool | None)``;
    ``compute() -> {prefix + name + "_" + tag: () float32}`` with names ``epe`` (pixels), ``bad{t}`` and ``d1``
    (percentages in [0, 100]).
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    plot_lower_bound = 0.0

    def __init__(
        self,
        region: str = "all",
        reduction: str = "pixels",
        bad_thresholds: Sequence[float] = BAD_THRESHOLDS,
        prefix: str = "",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if region not in REGIONS:
            raise ValueError(f"region must be one of {tuple(REGIONS)}, got {region!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        thresholds = tuple(float(t) for t in bad_thresholds)
        if any(not t > 0 for t in thresholds) or len(set(map(_bad_name, thresholds))) != len(thresholds):
            raise ValueError(f"bad_thresholds must be distinct positive numbers, got {tuple(bad_thresholds)}")
        self.region, self.reduction, self.prefix = region, reduction, prefix
        self.mask_key, self.tag = REGIONS[region]
        self.bad_thresholds = thresholds
        self.names = ("epe", *map(_bad_name, thresholds), "d1")
        # Per quantity: a sum of per-pixel values ("pixels") or of per-image means ("images"); count: pixels or
        # non-empty images.
        self.add_state("sums", torch.zeros(len(self.names), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: Tensor, gt: Tensor, mask: Tensor, holes: Tensor | None = None) -> None:
        """Accumulate a batch: ``pred``, ``gt`` (B, 1, H, W) disparities in pixels, ``mask`` (B, 1, H, W) bool;
        ``holes`` (B, 1, H, W) bool marks pixels without an estimate (scored as disparity 0 and as outliers, see
        the module docstring; ``pred`` is ignored there)."""
        check_map_inputs(pred, gt, mask, "disparity")
        if holes is not None and (holes.shape != mask.shape or holes.dtype != torch.bool):
            raise ValueError(
                f"holes must be a bool tensor of shape {tuple(mask.shape)}, got {holes.dtype} {tuple(holes.shape)}"
            )
        gt = gt.detach().double().flatten(1)
        err = (pred.detach().double().flatten(1) - gt).abs()
        m = mask.flatten(1)
        hole = torch.zeros_like(m) if holes is None else holes.flatten(1) & m
        err = torch.where(hole, gt, err)  # a hole is the disparity 0
        err = torch.where(m, err, torch.zeros_like(err))  # outside the mask: no error, no outlier (gt may be inf)
        per_pixel = [
            err,
            *((err > t) | hole for t in self.bad_thresholds),
            ((err > D1_ABS_THRESHOLD) & (err > D1_REL_THRESHOLD * gt)) | hole,
        ]
        sums = torch.stack([v.sum(1, dtype=torch.float64) for v in per_pixel], dim=1)  # (B, K)
        pixels = m.sum(1)  # (B,)
        if self.reduction == "pixels":
            self.sums += sums.sum(0)
            self.count += pixels.sum()
        else:
            seen = pixels > 0
            self.sums += (sums[seen] / pixels[seen, None]).sum(0)
            self.count += seen.sum()

    def compute(self) -> dict[str, Tensor]:
        scale = torch.ones_like(self.sums)
        scale[1:] = 100.0  # rates in percent, EPE in pixels
        values = self.sums * scale / self.count  # 0 / 0 -> NaN for an empty evaluation
        return {f"{self.prefix}{name}_{self.tag}": v.float() for name, v in zip(self.names, values)}


class _SingleValue(StereoMetrics):
    name: str

    def compute(self) -> Tensor:
        return super().compute()[f"{self.prefix}{self.name}_{self.tag}"]


class EndPointError(_SingleValue):
    """Mean absolute disparity error in pixels. ``update(pred, gt, mask)``; arguments as :class:`StereoMetrics`."""

    name = "epe"

    def __init__(self, region: str = "all", reduction: str = "pixels", **kwargs) -> None:
        super().__init__(region=region, reduction=reduction, **kwargs)


class BadPixelRate(_SingleValue):
    """Percentage of pixels with absolute disparity error > ``threshold`` pixels (Middlebury "bad t")."""

    def __init__(self, threshold: float = 2.0, region: str = "all", reduction: str = "pixels", **kwargs) -> None:
        super().__init__(region=region, reduction=reduction, bad_thresholds=(threshold,), **kwargs)
        self.name = _bad_name(float(threshold))


class D1Error(_SingleValue):
    """KITTI 2015 D1: percentage of pixels with error > 3 px and > 5% of the ground-truth disparity."""

    name = "d1"

    def __init__(self, region: str = "all", reduction: str = "pixels", **kwargs) -> None:
        super().__init__(region=region, reduction=reduction, **kwargs)


def disparity_errors(pred: Tensor, gt: Tensor, mask: Tensor, bad_threshold: float = 2.0) -> dict[str, float]:
    """``epe`` (pixels) and ``bad{t}`` (percent of pixels with error > ``bad_threshold``) of one disparity map over
    ``mask``, in the inputs' precision; all ``(1, H, W)`` tensors. Empty dict when the mask is empty."""
    error = (pred - gt).abs()[mask]
    if not error.numel():
        return {}
    return {"epe": float(error.mean()), _bad_name(bad_threshold): float((error > bad_threshold).float().mean() * 100)}
