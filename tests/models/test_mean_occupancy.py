"""MeanOccupancy reference: per-voxel mean of the training grids, thresholded at 0.5 and at the best training IoU."""

import numpy as np
import pytest
import torch

from recon.geometry.voxels import occupancy_iou, pack_occupancy
from recon.models.mean_occupancy import THRESHOLDS, MeanOccupancy


def test_fits_the_mean_grid_and_the_iou_maximising_threshold():
    rng = np.random.default_rng(0)
    R = 6
    grids = np.zeros((40, R, R, R), bool)
    grids[:, 1:4, 1:4, 1:4] = True  # always occupied
    grids[:, 4, :, :] = rng.random((40, R, R)) < 0.3  # sometimes
    ref = MeanOccupancy(R).fit(pack_occupancy(grids))
    mean = grids.mean(0)
    assert np.allclose(ref.probability[0].numpy(), mean, atol=1e-6)
    gt = torch.from_numpy(grids)[:, None]
    brute = [float(occupancy_iou(torch.from_numpy(mean > t).expand(40, 1, R, R, R), gt).mean()) for t in THRESHOLDS]
    assert float(ref.threshold) == pytest.approx(THRESHOLDS[int(np.argmax(brute))])
    out = ref(torch.zeros(3, 3))
    assert out["occupancy"].shape == (3, 1, R, R, R)
    assert torch.equal(out["occupancy"][0, 0], torch.from_numpy(mean > 0.5))
    assert torch.equal(out["occupancy_tuned"][1, 0], torch.from_numpy(mean > float(ref.threshold)))


def test_needs_fitting():
    with pytest.raises(RuntimeError, match="fit"):
        MeanOccupancy(4)(torch.zeros(1, 3))
    with pytest.raises(ValueError):
        MeanOccupancy(4).fit(np.zeros((0, 8), np.uint8))
