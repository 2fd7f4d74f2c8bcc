"""recon-predict: a tiny untrained checkpoint run on rendered and broken images, and hostile checkpoints."""

import os
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from recon.data.formats.images import read_rgb
from recon.predict import predict
from recon.predict.single_view import crop_box, crop_resize, visible_colors
from tests.helpers.paths import MESH_DIR
from tests.helpers.single_view_checkpoint import save_checkpoint

MESH = MESH_DIR / "spot.obj"


def pinhole(f: float, H: int, W: int) -> np.ndarray:
    return np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]], dtype=np.float64)


def render_spot(K: np.ndarray, H: int, W: int, distance: float = 2.8) -> tuple[np.ndarray, np.ndarray]:
    """Lambert-shaded spot (bounding-box centre on the optical axis at ``distance``, radius ~1) with open3d
    raycasting. Returns (H, W, 3) uint8 RGB and the (H, W) bool silhouette."""
    mesh = o3d.io.read_triangle_mesh(str(MESH))
    v = np.asarray(mesh.vertices)
    centre = (v.min(0) + v.max(0)) / 2
    v = (v - centre) / np.linalg.norm(v - centre, axis=1).max()
    v = v @ np.diag([1.0, -1.0, -1.0]) + [0.0, 0.0, distance]  # mesh y up -> camera y down, facing the camera
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(v.astype(np.float32), np.asarray(mesh.triangles).astype(np.uint32))
    u, w = np.meshgrid(np.arange(W), np.arange(H))
    dirs = np.stack([u, w, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(K).T
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    rays = np.concatenate([np.zeros_like(dirs), dirs], 1).astype(np.float32)
    hit = scene.cast_rays(o3d.core.Tensor(rays))
    mask = np.isfinite(hit["t_hit"].numpy()).reshape(H, W)
    normals = hit["primitive_normals"].numpy()
    light = np.array([0.4, -0.6, -0.7]) / np.linalg.norm([0.4, -0.6, -0.7])
    shade = 0.25 + 0.75 * np.abs(normals @ light)
    rgb = np.where(mask.reshape(-1, 1), shade[:, None] * [0.9, 0.7, 0.5], [0.2, 0.3, 0.45]).reshape(H, W, 3)
    return (rgb * 255).round().astype(np.uint8), mask


@pytest.fixture(scope="module")
def spot_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("images") / "spot.png"
    rgb, _ = render_spot(pinhole(60.0, 48, 80), 48, 80)  # wider than the 32x32 training images: gets cropped
    Image.fromarray(rgb).save(path)
    return path


def config(ckpt, inputs, out, intrinsics=None):
    return OmegaConf.create(
        {"ckpt_path": str(ckpt), "inputs": [str(p) for p in inputs], "intrinsics": intrinsics, "output_dir": str(out)}
    )


def test_predict_rendered_image_writes_ply_and_figure(tmp_path, spot_png):
    ckpt = save_checkpoint(tmp_path / "tiny.ckpt")
    gray = tmp_path / "gray.png"
    Image.open(spot_png).convert("L").save(gray)
    out = tmp_path / "out"
    results = predict(config(ckpt, [spot_png, gray], out, intrinsics=[60.0, 60.0, 39.5, 23.5]))
    assert sorted(p.name for p in out.iterdir()) == ["gray.ply", "gray.png", "spot.ply", "spot.png"]
    for name in ("spot", "gray"):
        cloud = o3d.io.read_point_cloud(str(out / f"{name}.ply"))
        points = np.asarray(cloud.points)
        assert points.shape == (64, 3) and np.isfinite(points).all()
        assert cloud.has_colors()
        assert Image.open(out / f"{name}.png").size[0] == 900
    assert [r["points"] for r in results] == [64, 64]


def test_predict_through_hydra_config(make_config, tmp_path, spot_png):
    ckpt = save_checkpoint(tmp_path / "tiny.ckpt")
    run_dir = tmp_path / "run"
    cfg = make_config([f"ckpt_path={ckpt}", f"inputs=[{spot_png}]"], config_name="predict", run_dir=run_dir)
    predict(cfg)
    assert (run_dir / "spot.ply").is_file() and (run_dir / "spot.png").is_file()


def test_same_stem_twice_gets_distinct_outputs(tmp_path, spot_png):
    other = tmp_path / "b" / "spot.jpg"
    other.parent.mkdir()
    Image.open(spot_png).save(other)
    predict(config(save_checkpoint(tmp_path / "c.ckpt"), [spot_png, other], tmp_path / "out"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["spot-1.ply", "spot-1.png", "spot.ply", "spot.png"]


def test_bad_inputs_refused_before_anything_is_written(tmp_path, spot_png):
    ckpt = save_checkpoint(tmp_path / "tiny.ckpt")
    truncated = tmp_path / "truncated.png"
    data = spot_png.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    text = tmp_path / "notes.png"
    text.write_text("not an image\n")
    out = tmp_path / "out"
    for bad in (truncated, text, tmp_path / "missing.png"):
        with pytest.raises((ValueError, FileNotFoundError), match=bad.name):
            predict(config(ckpt, [spot_png, bad], out))  # the good first input is not written either
        assert not out.exists()


@pytest.mark.parametrize("intrinsics", [[60.0, 60.0, 39.5], [0.0, 60.0, 39.5, 23.5], [float("nan"), 1, 1, 1]])
def test_bad_intrinsics_refused(tmp_path, spot_png, intrinsics):
    with pytest.raises(ValueError, match="intrinsics"):
        predict(config(save_checkpoint(tmp_path / "tiny.ckpt"), [spot_png], tmp_path / "out", intrinsics))
    assert not (tmp_path / "out").exists()


def test_foreign_target_in_checkpoint_refused_before_it_runs(tmp_path, spot_png):
    marker = tmp_path / "pwned"
    ckpt = save_checkpoint(tmp_path / "evil.ckpt", model_cfg={"_target_": "os.system", "command": f"touch {marker}"})
    with pytest.raises(ValueError, match="os.system"):
        predict(config(ckpt, [spot_png], tmp_path / "out"))
    assert not marker.exists() and not (tmp_path / "out").exists()


class Evil:
    marker = ""

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_payload_checkpoint_refused_by_weights_only_loading(tmp_path, spot_png):
    marker = tmp_path / "pwned"
    evil = Evil()
    evil.marker = str(marker)
    Evil.marker = str(marker)
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "recon": {"config": evil}}, ckpt)
    with pytest.raises(ValueError, match="weights-only"):
        predict(config(ckpt, [spot_png], tmp_path / "out"))
    assert not marker.exists() and not (tmp_path / "out").exists()


# --- image loading and geometry ----------------------------------------------------------------------------------


def test_photo_channel_handling(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full((5, 7), 7, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "gray16.png")
    chw = rgb.transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(read_rgb(tmp_path / "rgb.png", strict=True), chw, atol=1e-6)
    np.testing.assert_allclose(read_rgb(tmp_path / "rgba.png", strict=True), chw, atol=1e-6)  # alpha dropped
    for name in ("gray.png", "gray16.png"):
        np.testing.assert_allclose(read_rgb(tmp_path / name, strict=True), np.repeat(chw[:1], 3, 0), atol=1e-6)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    with pytest.raises(ValueError, match="cmyk.jpg.*CMYK"):
        read_rgb(tmp_path / "cmyk.jpg", strict=True)


def test_crop_box_keeps_training_aspect():
    assert crop_box(48, 80, 32, 32) == (0, 16, 48, 48)
    assert crop_box(100, 50, 32, 64) == (37, 0, 25, 50)
    assert crop_box(64, 64, 32, 32) == (0, 0, 64, 64)


def test_intrinsics_follow_crop_and_resize():
    """Rendering with the mapped intrinsics reproduces the cropped, resized rendering (independent check)."""
    K = pinhole(225.0, 150, 250)
    K[0, 2] += 7.0  # off-centre principal point
    _, big_mask = render_spot(K, 150, 250)
    mask = torch.from_numpy(big_mask).float().expand(3, -1, -1)
    from_crop, K2 = crop_resize(mask, torch.from_numpy(K).float(), 50, 50)
    resized = from_crop[0].numpy() > 0.5

    def iou(K_render):
        _, direct = render_spot(K_render, 50, 50)
        return (resized & direct).sum() / (resized | direct).sum()

    K2 = K2.double().numpy()
    assert iou(K2) > 0.97
    shifted = K2.copy()
    shifted[0, 2] += 1.0  # one pixel off is clearly worse: the check is sensitive
    assert iou(shifted) < iou(K2) - 0.03
    np.testing.assert_allclose(K2[0, 0], 225.0 * 50 / 150, rtol=1e-6)


def test_visible_colors_front_point_takes_the_pixel_colour_back_point_is_grey():
    image = torch.zeros(3, 8, 8)
    image[:, 4, 5] = torch.tensor([1.0, 0.0, 0.0])
    K = torch.tensor([[4.0, 0, 3.5], [0, 4.0, 3.5], [0, 0, 1]])
    front = torch.tensor([[1.5 / 4 * 2.0, 0.5 / 4 * 2.0, 2.0]])  # projects to (u, v) = (5, 4)
    back = front * 2.0  # same ray, twice as far
    outside = torch.tensor([[10.0, 0.0, 1.0]])
    colors = visible_colors(torch.cat([front, back, outside]), image, K, tolerance=0.1)
    torch.testing.assert_close(colors[0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(colors[1:], torch.full((2, 3), 0.6))
