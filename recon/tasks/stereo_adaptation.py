"""Self-supervised adaptation of a stereo model to unlabeled real pairs: no ground truth in any loss term.

Fine-tunes a (synthetically) trained stereo model on rectified pairs without ground truth, e.g. a folder of a
user's pairs (``data=stereo_folder_pairs`` without ``disparity/``). The loss has three terms, each over the
final prediction (the proxy term over every output, weighted like :class:`~recon.tasks.stereo.StereoTask`'s):

- ``proxy``: smooth-L1 to OpenCV SGBM's disparity on the pixels it matched (its left-right check and uniqueness
  test passed), SGBM run on the training pair itself with the model's ``max_disparity``;
- ``photometric``: the right image warped into the left view by the prediction against the left image, Monodepth's
  ``0.85 (1 - SSIM) / 2 + 0.15 |L1|`` (torchmetrics' SSIM, 7x7 Gaussian window), where the sample lies inside
  the right image;
- ``smoothness``: edge-aware smoothness of the disparity divided by its per-image mean (Monodepth2): the gradients
  of the disparity, down-weighted by ``exp(-|image gradient|)``.

Scores (val/test) are :class:`StereoTask`'s: the data's ground truth is used there, and only there; with SGBM
scored beside the model. A table of adapted models says on which pairs they adapted (adapting on the scored pair
itself is test-time adaptation).
"""

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure

from recon.geometry.disparity import warp_right_to_left
from recon.models.sgbm import SGBMStereo
from recon.tasks.losses import last_weights, multi_scale_smooth_l1
from recon.tasks.stereo import StereoTask

SSIM_WEIGHT = 0.85  # Monodepth's mix of (1 - SSIM) / 2 and L1


def photometric_error(left: torch.Tensor, warped: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) images in [0, 1] -> (B, 1, H, W): ``0.85 (1 - SSIM) / 2 + 0.15 |left - warped|``, channel mean."""
    _, ssim = structural_similarity_index_measure(
        warped, left, data_range=1.0, kernel_size=7, sigma=1.0, return_full_image=True, reduction="none"
    )
    dissimilarity = ((1 - ssim) / 2).clamp(0, 1)
    return (SSIM_WEIGHT * dissimilarity + (1 - SSIM_WEIGHT) * (left - warped).abs()).mean(1, keepdim=True)


def edge_aware_smoothness(disparity: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Mean of ``|d/dx (disp / mean disp)| exp(-|d/dx image|)`` and the same along y; (B, 1, H, W), (B, 3, H, W)."""
    disparity = disparity / (disparity.mean((2, 3), keepdim=True) + 1e-7)
    dx = (disparity[..., :, 1:] - disparity[..., :, :-1]).abs()
    dy = (disparity[..., 1:, :] - disparity[..., :-1, :]).abs()
    ix = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(1, keepdim=True)
    iy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(1, keepdim=True)
    return (dx * torch.exp(-ix)).mean() + (dy * torch.exp(-iy)).mean()


class StereoAdaptationTask(StereoTask):
    """:class:`StereoTask` whose training loss needs no ground truth (module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable | None = None,
        scheduler: Callable | None = None,
        proxy_weight: float = 1.0,
        photometric_weight: float = 1.0,
        smoothness_weight: float = 0.1,
        loss_weights: Sequence[float] = (0.5, 0.5, 0.7, 1.0),
        smooth_l1_beta: float = 1.0,
        reference: bool = True,
    ):
        super().__init__(model, optimizer, scheduler, loss_weights, smooth_l1_beta, reference)
        weights = {"proxy": proxy_weight, "photometric": photometric_weight, "smoothness": smoothness_weight}
        for name, value in weights.items():
            if not float(value) >= 0:
                raise ValueError(f"task.{name}_weight must be >= 0, got {value}")
        if not any(float(v) > 0 for v in weights.values()):
            raise ValueError("task: at least one of proxy_weight, photometric_weight, smoothness_weight must be > 0")
        self.term_weights = {name: float(value) for name, value in weights.items()}
        self.proxy = SGBMStereo(max_disparity=self.max_disparity, fill_holes=False)

    def proxy_labels(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """SGBM's disparity (B, 1, H, W) on the batch and the mask of pixels it matched below ``max_disparity``."""
        with torch.no_grad():
            out = self.proxy(batch["left"], batch["right"])
        return out["disparity"], out["matched"] & (out["disparity"] < self.max_disparity)

    def loss_terms(self, out: dict, batch: dict[str, torch.Tensor]) -> tuple[dict, dict]:
        """``proxy`` (``smooth_l1_<i>`` per output when there are several), ``photometric``, ``smoothness``; no
        ground truth is read. ``proxy_fraction`` (logged, not in the loss): the share of pixels with a proxy label."""
        if not self.training:  # validation: the supervised loss against the data's ground truth, for the curve
            return super().loss_terms(out, batch)
        predictions = list(out.get("disparities") or [out["disparity"]])
        final, left = predictions[-1], batch["left"]
        terms, weights = {}, {}
        if self.term_weights["proxy"]:
            proxy, mask = self.proxy_labels(batch)
            output_weights = last_weights(self.loss_weights, len(predictions), self.model, "disparity maps")
            proxy_terms, proxy_weights = multi_scale_smooth_l1(predictions, proxy, mask, self.beta, output_weights)
            terms.update({name.replace("smooth_l1", "proxy"): t for name, t in proxy_terms.items()})
            scale = self.term_weights["proxy"]
            weights.update({name.replace("smooth_l1", "proxy"): scale * w for name, w in proxy_weights.items()})
            terms["proxy_fraction"] = mask.float().mean()
        if self.term_weights["photometric"]:
            warped, inside = warp_right_to_left(batch["right"], final, padding_mode="border")
            error = photometric_error(left, warped)
            inside = inside.float()
            terms["photometric"] = (error * inside).sum() / inside.sum().clamp(min=1.0)
            weights["photometric"] = self.term_weights["photometric"]
        if self.term_weights["smoothness"]:
            terms["smoothness"] = edge_aware_smoothness(final, left)
            weights["smoothness"] = self.term_weights["smoothness"]
        return terms, weights
