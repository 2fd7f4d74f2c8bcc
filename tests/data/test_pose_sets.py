"""Pose pairs of a real calibrated set (the dino ring): all 120 pairs, poses from the calibration, resized
intrinsics, and the errors for missing folders and single views."""

import numpy as np
import pytest
import torch

from recon.data.formats.middlebury_mvs import read_middlebury_mvs
from recon.data.pose_sets import PoseSetDataModule
from tests.helpers.middlebury_mvs_files import make_poses, write_dataset
from tests.helpers.paths import DINO


def test_every_pair_of_the_dino_ring_with_its_calibrated_pose():
    dm = PoseSetDataModule("middlebury_mvs", str(DINO), image_scale=0.25)
    dm.setup()
    ds = dm.datasets["test"]
    assert len(ds) == 120 == len(set(ds.ids))
    views = read_middlebury_mvs(DINO).views
    for n in (0, 37, 119):
        item = ds[n]
        a, b = ds.pairs[n].tolist()
        T = views[b].T_cw @ np.linalg.inv(views[a].T_cw)
        torch.testing.assert_close(item["R"].double(), torch.from_numpy(T[:3, :3]), atol=1e-5, rtol=0)
        torch.testing.assert_close(item["t"].double(), torch.from_numpy(T[:3, 3]), atol=1e-5, rtol=0)
        assert item["images"].shape == (2, 3, 120, 160)
        # intrinsics follow the resize: u' = (u + 0.5) s - 0.5
        K = views[a].K
        assert float(item["K"][0, 0, 0]) == pytest.approx(K[0, 0] * 0.25, rel=1e-5)
        assert float(item["K"][0, 0, 2]) == pytest.approx((K[0, 2] + 0.5) * 0.25 - 0.5, rel=1e-5)
    assert bool(ds.wide.any()) and not bool(ds.wide.all())


def test_bad_sets_are_refused_with_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.root"):
        PoseSetDataModule("middlebury_mvs", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="data.format"):
        PoseSetDataModule("nerf", str(tmp_path))
    with pytest.raises(ValueError, match="data.wide_angle_deg"):
        PoseSetDataModule("middlebury_mvs", str(tmp_path), wide_angle_deg=0)
    with pytest.raises(ValueError, match="data.low_texture_gradient"):
        PoseSetDataModule("middlebury_mvs", str(tmp_path), low_texture_gradient=300)
    write_dataset(tmp_path, make_poses(1))
    with pytest.raises(ValueError, match="at least 2"):
        PoseSetDataModule("middlebury_mvs", str(tmp_path)).setup()
