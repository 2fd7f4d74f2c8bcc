"""recon-predict with VAE checkpoints: K sampled shapes per image as PLYs and one figure; reproducible."""

from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from recon.models.point_vae import PointVAE
from recon.models.voxel_vae import VoxelVAE
from recon.predict import predict
from recon.tasks.single_view import SingleViewTask

DATA = {
    "_target_": "recon.data.single_view.SingleViewDataModule",
    "synthetic": {"image_size": [32, 32], "camera_distance": [3.0, 3.0]},
}
POINTS = {
    "_target_": "recon.models.point_vae.PointVAE",
    "num_points": 64,
    "widths": [8, 16],
    "feature_dim": 32,
    "hidden_dim": 64,
    "latent_dim": 4,
}
VOXEL = {
    "_target_": "recon.models.voxel_vae.VoxelVAE",
    "num_points": 64,
    "widths": [8, 16],
    "feature_dim": 32,
    "hidden_dim": 64,
    "latent_dim": 4,
    "resolution": 16,
    "channels": 16,
}


def save_checkpoint(path: Path, model_cfg: dict) -> Path:
    torch.manual_seed(0)
    cls = {"PointVAE": PointVAE, "VoxelVAE": VoxelVAE}[model_cfg["_target_"].rsplit(".", 1)[-1]]
    model = cls(**{k: v for k, v in model_cfg.items() if k != "_target_"})
    if isinstance(model, VoxelVAE):
        with torch.no_grad():
            model.deconv[-1].bias.fill_(0.5)  # an untrained grid with occupied voxels, so samples have surfaces
    task = SingleViewTask(model, reference=False)
    torch.save(
        {
            "state_dict": task.state_dict(),
            "recon": {
                "config": {
                    "data": DATA,
                    "model": model_cfg,
                    "task": {"_target_": "recon.tasks.single_view.SingleViewTask", "reference": False},
                },
                "version": "0.1.0",
            },
        },
        path,
    )
    return path


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)).save(path)
    return path


def run(ckpt, image, out, **extra):
    return predict(
        OmegaConf.create(
            {"ckpt_path": str(ckpt), "inputs": [str(image)], "intrinsics": None, "output_dir": str(out), **extra}
        )
    )


@pytest.mark.parametrize("model_cfg", [POINTS, VOXEL], ids=["vae_points", "vae_voxel"])
def test_writes_k_distinct_sample_clouds_and_a_figure(tmp_path, image, model_cfg):
    ckpt = save_checkpoint(tmp_path / "vae.ckpt", model_cfg)
    results = run(ckpt, image, tmp_path / "out", samples=3)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["in.ply", "in.png", "in_sample0.ply", "in_sample1.ply", "in_sample2.ply", "in_samples.png"]
    clouds = [np.asarray(o3d.io.read_point_cloud(str(tmp_path / "out" / f"in_sample{k}.ply")).points) for k in range(3)]
    for c in clouds:
        assert c.shape == (64, 3) and np.isfinite(c).all()
    assert not np.allclose(clouds[0], clouds[1]) and not np.allclose(clouds[1], clouds[2])
    assert len(results[0]["sample_plys"]) == 3 and Image.open(results[0]["samples_png"]).size[0] > 0

    run(ckpt, image, tmp_path / "again", samples=3)
    again = np.asarray(o3d.io.read_point_cloud(str(tmp_path / "again" / "in_sample1.ply")).points)
    assert np.allclose(again, clouds[1]), "the same seed draws the same samples"
    run(ckpt, image, tmp_path / "seed1", samples=3, seed=1)
    other = np.asarray(o3d.io.read_point_cloud(str(tmp_path / "seed1" / "in_sample1.ply")).points)
    assert not np.allclose(other, clouds[1])


def test_zero_samples_writes_only_the_mean_prediction(tmp_path, image):
    run(save_checkpoint(tmp_path / "vae.ckpt", POINTS), image, tmp_path / "out", samples=0)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["in.ply", "in.png"]


def test_predict_config_has_the_sampling_keys(make_config):
    cfg = make_config(["ckpt_path=x.ckpt", "inputs=[a.png]"], config_name="predict")
    assert cfg.samples == 5 and cfg.seed == 0
