"""recon-predict with a pose model on uncalibrated images: poses of consecutive pairs against the dino's
calibration, identical images as a rotation-only pair with translation undefined, a pair without overlap reported
as failed, and bad requests refused before anything is written."""

import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from recon.data.formats.middlebury_mvs import read_middlebury_mvs
from recon.geometry.poses import rotation_error_deg
from recon.predict import predict
from tests.helpers.paths import DINO

ESSENTIAL = {"_target_": "recon.models.essential_pose.EssentialPose"}


def config(inputs, out, **keys):
    return OmegaConf.create({"ckpt_path": None, "model": ESSENTIAL, "inputs": [str(p) for p in inputs],
                             "output_dir": str(out), "fov_deg": 60.0, **keys})  # fmt: skip


@pytest.fixture(scope="module")
def views():
    return read_middlebury_mvs(DINO).views


def test_consecutive_pairs_with_calibration_identical_images_and_no_overlap(tmp_path, views):
    a, b, c = views[0], views[15], views[7]  # 7.8 degrees apart, then 164 degrees apart (no common surface)
    K = a.K
    intrinsics = [float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])]
    result = predict(config([a.image, b.image, b.image, c.image], tmp_path / "out", intrinsics=intrinsics))
    pairs = json.loads((tmp_path / "out" / "poses.json").read_text())["pairs"]
    assert [p["status"] for p in pairs] == ["ok", "rotation only", "failed"] == [p["status"] for p in result["pairs"]]
    T = b.T_cw @ np.linalg.inv(a.T_cw)
    assert (
        float(rotation_error_deg(torch.tensor(pairs[0]["R"], dtype=torch.float64), torch.from_numpy(T[:3, :3])))
        < 4.0  # identity: 7.8
    )
    assert pairs[1]["R"] == np.eye(3).tolist() and pairs[1]["t"] == [0.0, 0.0, 0.0]
    assert not pairs[2]["valid"]


def test_bad_requests_are_refused_before_writing(tmp_path, views):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="two or more images"):
        predict(config([views[0].image], out))
    small = tmp_path / "small.png"
    Image.open(views[1].image).resize((320, 240)).save(small)
    with pytest.raises(ValueError, match="different sizes.*intrinsics"):
        predict(config([views[0].image, small], out))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        predict(config([views[0].image, tmp_path / "missing.png"], out))
    with pytest.raises(ValueError, match="fov_deg"):
        predict(config([views[0].image, views[1].image], out, fov_deg=200))
    assert not out.exists()
