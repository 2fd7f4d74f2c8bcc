"""recon-predict on a real RGB-D frame (the Motorcycle pair's left view and ground-truth depth) with a multi-modal
checkpoint: a PLY open3d reads back, no NaN, the measured surface in it, bad requests refused with nothing written."""

import numpy as np
import open3d as o3d
import pytest
import torch
from PIL import Image
from scipy.spatial import cKDTree

from recon.data.formats.middlebury2014 import write_motorcycle_rgbd
from recon.data.formats.rgbd import read_rgbd_frame
from recon.models.multi_modal_autoencoder import MultiModalAutoencoder
from recon.predict import predict
from recon.tasks.multi_modal import MultiModalTask

SMALL = {"num_points": 64, "widths": [8, 16], "feature_dim": 32, "hidden_dim": 64, "point_widths": [16, 32]}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("mm") / "mm.ckpt"
    torch.manual_seed(0)
    task = MultiModalTask(MultiModalAutoencoder(**SMALL, partial_points=64), reference=False)
    config = {
        "data": {
            "_target_": "recon.data.multi_modal.MultiModalDataModule",
            "synthetic": {"image_size": [32, 32], "camera_distance": [3.2, 3.2]},
            "num_partial_points": 64,
        },
        "model": {
            "_target_": "recon.models.multi_modal_autoencoder.MultiModalAutoencoder",
            **SMALL,
            "partial_points": 64,
        },
        "task": {"_target_": "recon.tasks.multi_modal.MultiModalTask", "reference": False},
    }
    torch.save({"state_dict": task.state_dict(), "recon": {"config": config, "version": "0.1.0"}}, path)
    return path


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    return write_motorcycle_rgbd(tmp_path_factory.mktemp("frame"))


def request(checkpoint, frame, **changes):
    keys = {
        "ckpt_path": str(checkpoint),
        "color": str(frame["color"]),
        "depth": str(frame["depth"]),
        "depth_scale": 1000,
        "intrinsics": str(frame["intrinsics"]),
        **changes,
    }
    return [f"{k}={v}" for k, v in keys.items() if v is not None]


def test_the_real_frame_is_completed_into_a_ply_that_keeps_the_measured_surface(
    make_config, tmp_path, checkpoint, frame
):
    out = tmp_path / "out"
    result = predict(make_config(request(checkpoint, frame), config_name="predict", run_dir=out))
    cloud = o3d.io.read_point_cloud(str(result["ply"]))
    points = np.asarray(cloud.points)
    assert len(points) == result["measured"] + result["completed"] and result["completed"] == 64 + 64  # kept + decoded
    assert np.isfinite(points).all() and (out / "color.png").is_file()
    # >= 90% of the valid input pixels, back-projected, lie within 1% of their depth of an output point
    measured = read_rgbd_frame(frame["color"], frame["depth"], frame["intrinsics"], 1000)["partial_points"].numpy()
    distance = cKDTree(points).query(measured)[0]
    assert (distance <= 0.01 * measured[:, 2]).mean() >= 0.9
    # the completion sits in the scene, at the measured cloud's scale (metres, 2-5.5 m here)
    completion = points[-64:]
    assert 1.0 < np.median(completion[:, 2]) < 8.0


def test_bad_requests_are_refused_before_anything_is_written(make_config, tmp_path, checkpoint, frame):
    Image.fromarray(np.full((500, 741), 9, np.uint8)).save(tmp_path / "depth8.png")
    cases = [
        ({"depth_scale": None}, "give an RGB-D frame"),
        ({"depth_scale": -1}, "depth_scale must be a positive number"),
        ({"depth": str(tmp_path / "depth8.png")}, "depth8.png: a depth PNG must be 16-bit"),
        ({"intrinsics": None}, "intrinsics are required"),
        ({"color": str(tmp_path / "nope.png")}, "nope.png"),
    ]
    for i, (change, match) in enumerate(cases):
        out = tmp_path / f"out{i}"
        with pytest.raises((ValueError, FileNotFoundError), match=match):
            predict(make_config(request(checkpoint, frame, **change), config_name="predict", run_dir=out))
        assert not out.exists() or not any(p.suffix in (".ply", ".png") for p in out.iterdir())
