"""recon-predict on a stereo pair: the real Middlebury Motorcycle pair with OpenCV SGBM and a tiny untrained GwcStereo
checkpoint; disparity, depth and cloud checked against hand-computed references; bad requests write nothing."""

import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import open3d as o3d
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from recon.data.formats.images import read_rgb
from recon.data.formats.middlebury2014 import motorcycle_pair
from recon.data.formats.pfm import read_pfm
from recon.models.gwc_stereo import GwcStereo
from recon.models.sgbm import SGBMStereo
from recon.predict import predict
from recon.tasks.stereo import StereoTask
from tests.helpers.single_view_checkpoint import save_checkpoint as save_single_view_checkpoint

SGBM = {"_target_": "recon.models.sgbm.SGBMStereo", "max_disparity": 64}
GWC = {
    "_target_": "recon.models.gwc_stereo.GwcStereo",
    "max_disparity": 16,
    "feature_channels": 8,
    "feature_blocks": 1,
    "volume_channels": 4,
    "num_hourglasses": 0,
}
STEREO_DATA = {
    "_target_": "recon.data.stereo.SyntheticStereoDataModule",
    "max_disparity": 16,
    "synthetic": {"image_size": [32, 64], "focal_px": 40.0, "disparity_range": [1.0, 16.0]},
}
ROWS, COLS = slice(150, 350), slice(250, 550)  # a 200 x 300 crop of the 500 x 741 pair (crops keep the calibration
# except the principal point, which the tests do not use unless they pass it)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """``(left.png, right.png, calib, gt)``: the cropped Motorcycle pair, its calibration and GT disparity."""
    item, calib = motorcycle_pair()
    folder = tmp_path_factory.mktemp("motorcycle")
    paths = []
    for side in ("left", "right"):
        paths.append(folder / f"im_{side}.png")
        Image.fromarray(to_uint8(item[side][:, ROWS, COLS])).save(paths[-1])
    gt = item["disparity"][0, ROWS, COLS].numpy()
    return paths[0], paths[1], calib, np.where(item["valid"][0, ROWS, COLS].numpy(), gt, np.nan)


def config(left, right, out, model=SGBM, ckpt_path=None, **keys):
    return OmegaConf.create(
        {
            "ckpt_path": None if ckpt_path is None else str(ckpt_path),
            "model": model,
            "left": str(left),
            "right": str(right),
            "output_dir": str(out),
            **keys,
        }
    )


def calibrated(pair, out, **keys):
    left, right, calib, _ = pair
    return config(left, right, out, focal=calib.focal, baseline=calib.baseline, doffs=calib.doffs, **keys)


def pixel_grid(H, W):
    v, u = np.mgrid[0:H, 0:W]
    return u.astype(np.float64), v.astype(np.float64)


def test_sgbm_on_motorcycle_writes_disparity_depth_and_cloud(tmp_path, pair):
    left, right, calib, gt = pair
    out = tmp_path / "out"
    result = predict(calibrated(pair, out))
    assert sorted(p.name for p in out.iterdir()) == [
        "im_left.ply",
        "im_left.png",
        "im_left_depth.pfm",
        "im_left_disparity.pfm",
        "im_left_disparity.png",
    ]
    d = read_pfm(out / "im_left_disparity.pfm")
    direct = SGBMStereo(max_disparity=64)(read_rgb(left)[None], read_rgb(right)[None])["disparity"][0, 0].numpy()
    assert d.dtype == np.float32 and d.shape == (200, 300) and np.array_equal(d, direct)
    assert np.nanmedian(np.abs(d - gt)) < 1.0  # the pair went in as left/right: SGBM agrees with the ground truth

    f, b, doffs = calib.focal, calib.baseline, calib.doffs
    expected_z = np.where(d + doffs > 0, f * b / (d.astype(np.float64) + doffs), 0.0)
    np.testing.assert_allclose(read_pfm(out / "im_left_depth.pfm"), expected_z, rtol=1e-5)

    cloud = o3d.io.read_point_cloud(str(out / "im_left.ply"))
    points, colors = np.asarray(cloud.points), np.asarray(cloud.colors)
    keep = expected_z > 0
    assert len(points) == keep.sum() == result["points"]
    u, v = pixel_grid(200, 300)
    z = expected_z[keep]
    expected = np.stack([(u[keep] - 149.5) * z / f, (v[keep] - 99.5) * z / f, z], axis=-1)  # row-major pixels
    np.testing.assert_allclose(points, expected, rtol=1e-5, atol=1e-6 * z.max())
    rgb = np.asarray(Image.open(left)).astype(np.float64) / 255
    np.testing.assert_allclose(colors, rgb[keep], atol=0.5 / 255)

    coloured = np.asarray(Image.open(out / "im_left_disparity.png"))
    expected_png = matplotlib.colormaps["turbo"](d / d.max())[..., :3] * 255
    assert coloured.shape == (200, 300, 3) and np.abs(coloured - expected_png).max() <= 0.51
    assert Image.open(out / "im_left.png").size[0] == 960  # left | disparity figure


def test_intrinsics_set_the_camera_and_non_positive_depth_is_dropped(tmp_path, pair):
    left, right, calib, _ = pair
    fx, fy, cx, cy, baseline, doffs = 900.0, 950.0, 120.0, 80.0, 100.0, -20.0  # doffs < 0: near-zero d -> no depth
    out = tmp_path / "out"
    predict(config(left, right, out, intrinsics=[fx, fy, cx, cy], baseline=baseline, doffs=doffs))
    d = read_pfm(out / "im_left_disparity.pfm").astype(np.float64)
    keep = d + doffs > 0
    assert 0 < keep.sum() < keep.size
    points = np.asarray(o3d.io.read_point_cloud(str(out / "im_left.ply")).points)
    u, v = pixel_grid(*d.shape)
    z = fx * baseline / (d[keep] + doffs)
    expected = np.stack([(u[keep] - cx) * z / fx, (v[keep] - cy) * z / fy, z], axis=-1)
    np.testing.assert_allclose(points, expected, rtol=1e-5, atol=1e-6 * z.max())
    depth = read_pfm(out / "im_left_depth.pfm")
    assert (depth[~keep] == 0).all() and (depth[keep] > 0).all()


def test_without_calibration_only_the_disparity_is_written(tmp_path, pair):
    left, right, _, _ = pair
    result = predict(config(left, right, tmp_path / "out"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "im_left.png",
        "im_left_disparity.pfm",
        "im_left_disparity.png",
    ]
    assert result["depth"] is None and result["ply"] is None


def save_stereo_checkpoint(path: Path) -> tuple[Path, StereoTask]:
    torch.manual_seed(0)
    model = GwcStereo(**{k: v for k, v in GWC.items() if k != "_target_"})
    task = StereoTask(model, reference=False)
    torch.save(
        {
            "state_dict": task.state_dict(),
            "recon": {
                "config": {
                    "data": STEREO_DATA,
                    "model": GWC,
                    "task": {
                        "_target_": "recon.tasks.stereo.StereoTask",
                        "reference": False,
                        "optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3},
                    },
                },
                "version": "0.1.0",
            },
        },
        path,
    )
    return path, task.eval()


@pytest.fixture
def small_pair(tmp_path, pair) -> tuple[Path, Path]:
    """A 50 x 75 version of the pair (every 4th pixel): fast for the untrained network."""
    paths = []
    for side, src in (("left", pair[0]), ("right", pair[1])):
        paths.append(tmp_path / f"small_{side}.png")
        Image.fromarray(np.asarray(Image.open(src))[::4, ::4]).save(paths[-1])
    return paths[0], paths[1]


def test_tiny_stereo_checkpoint_end_to_end(tmp_path, small_pair):
    ckpt, task = save_stereo_checkpoint(tmp_path / "gwc.ckpt")
    left, right = small_pair
    out = tmp_path / "out"
    result = predict(config(left, right, out, model=None, ckpt_path=ckpt, focal=250.0, baseline=193.0))
    assert sorted(p.name for p in out.iterdir()) == [
        "small_left.ply",
        "small_left.png",
        "small_left_depth.pfm",
        "small_left_disparity.pfm",
        "small_left_disparity.png",
    ]
    with torch.no_grad():
        direct = task.model(read_rgb(left)[None], read_rgb(right)[None])["disparity"][0, 0].numpy()
    d = read_pfm(out / "small_left_disparity.pfm")
    assert d.shape == (50, 75) and (d >= 0).all() and (d <= 16).all()
    np.testing.assert_allclose(d, direct, rtol=1e-5, atol=1e-5)
    assert result["points"] == int((d > 0).sum()) == len(o3d.io.read_point_cloud(str(out / "small_left.ply")).points)


def test_max_disparity_widens_the_search_of_a_checkpoint_trained_on_a_smaller_range(tmp_path, small_pair):
    """The tiny network was trained for 16 px; the request searches 48 px with the same weights (direct check)."""
    ckpt, task = save_stereo_checkpoint(tmp_path / "gwc.ckpt")
    left, right = small_pair
    predict(config(left, right, tmp_path / "out", model=None, ckpt_path=ckpt, max_disparity=48))
    wide = GwcStereo(**{**{k: v for k, v in GWC.items() if k != "_target_"}, "max_disparity": 48})
    wide.load_state_dict(task.model.state_dict())
    with torch.no_grad():
        direct = wide.eval()(read_rgb(left)[None], read_rgb(right)[None])["disparity"][0, 0].numpy()
    assert wide.num_candidates == 13 and task.model.num_candidates == 5
    np.testing.assert_allclose(read_pfm(tmp_path / "out" / "small_left_disparity.pfm"), direct, rtol=1e-5, atol=1e-5)
    sgbm = predict(config(left, right, tmp_path / "sgbm", max_disparity=32))
    assert sgbm["range"][1] <= 32
    for bad in (0, -5, "wide"):
        with pytest.raises(ValueError, match="max_disparity"):
            predict(config(left, right, tmp_path / "bad", model=None, ckpt_path=ckpt, max_disparity=bad))
    assert not (tmp_path / "bad").exists()


def test_the_console_command_composes_model_sgbm(tmp_path, pair):
    left, right, calib, _ = pair
    script = Path(sys.executable).with_name("recon-predict")
    command = [str(script)] if script.is_file() else [shutil.which("recon-predict")]
    out = tmp_path / "out"
    run = subprocess.run(
        command
        + [
            "model=sgbm",
            "model.max_disparity=64",
            f"left={left}",
            f"right={right}",
            f"focal={calib.focal}",
            f"baseline={calib.baseline}",
            f"doffs={calib.doffs}",
            f"output_dir={out}",
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "recon-predict (stereo)" in run.stdout
    direct = SGBMStereo(max_disparity=64)(read_rgb(left)[None], read_rgb(right)[None])["disparity"][0, 0].numpy()
    assert np.array_equal(read_pfm(out / "im_left_disparity.pfm"), direct)
    assert (out / "im_left.ply").is_file() and (out / "im_left_disparity.png").is_file()


# --- bad requests: a clear error naming the file or key, and nothing written ---------------------------------------


def refused(cfg, match: str) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        predict(cfg)
    out = Path(cfg.output_dir)
    assert not out.exists() or not any(out.iterdir())


def test_different_sizes_name_both_files(tmp_path, pair):
    left, right, _, _ = pair
    narrow = tmp_path / "narrow.png"
    Image.open(right).crop((0, 0, 280, 200)).save(narrow)
    refused(config(left, narrow, tmp_path / "out"), match=r"im_left\.png is 300x200 .*narrow\.png is 280x200")


@pytest.mark.parametrize("side,kind", [("left", "truncated"), ("right", "text"), ("right", "missing")])
def test_unreadable_image_names_the_file(tmp_path, pair, side, kind):
    left, right, _, _ = pair
    bad = tmp_path / f"{kind}.png"
    if kind == "truncated":
        data = left.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        bad.write_text("not an image\n")
    paths = (bad, right) if side == "left" else (left, bad)
    refused(config(*paths, tmp_path / "out"), match=bad.name)


@pytest.mark.parametrize("case", ["gray_left", "gray_right", "cmyk", "float"])
def test_incompatible_channels_name_the_file_and_mode(tmp_path, pair, case):
    left, right, _, _ = pair
    if case in ("gray_left", "gray_right"):
        gray = tmp_path / "gray.png"
        Image.open(left if case == "gray_left" else right).convert("L").save(gray)
        paths, match = ((gray, right) if case == "gray_left" else (left, gray)), r"gray\.png.*'L'"
    elif case == "cmyk":
        cmyk = tmp_path / "cmyk.jpg"
        Image.open(right).convert("CMYK").save(cmyk)
        paths, match = (left, cmyk), r"cmyk\.jpg.*'CMYK'"
    else:
        floats = tmp_path / "float.tif"
        Image.fromarray(np.asarray(Image.open(right).convert("L"), dtype=np.float32)).save(floats)
        paths, match = (left, floats), r"'F'.*float\.tif"
    refused(config(*paths, tmp_path / "out"), match=match)


@pytest.mark.parametrize(
    "keys,match",
    [
        ({"focal": 994.978}, "baseline"),
        ({"baseline": 193.0}, "focal"),
        ({"intrinsics": [994.978, 994.978, 150.0, 100.0]}, "baseline"),
        ({"focal": 0.0, "baseline": 193.0}, "focal"),
        ({"focal": 994.978, "baseline": -1.0}, "baseline"),
        ({"focal": float("nan"), "baseline": 193.0}, "focal"),
        ({"focal": 994.978, "baseline": float("inf")}, "baseline"),
        ({"focal": 994.978, "baseline": 193.0, "doffs": float("nan")}, "doffs"),
        ({"intrinsics": [994.978, 994.978, 150.0], "baseline": 193.0}, "intrinsics"),
        ({"intrinsics": [994.978, 0.0, 150.0, 100.0], "baseline": 193.0}, "intrinsics.fy"),
        ({"focal": 500.0, "intrinsics": [994.978, 994.978, 150.0, 100.0], "baseline": 193.0}, "focal=500.0"),
    ],
)
def test_bad_calibration_names_the_key(tmp_path, pair, keys, match):
    left, right, _, _ = pair
    refused(config(left, right, tmp_path / "out", **keys), match=match)


def test_single_view_checkpoint_refuses_a_pair(tmp_path, pair):
    left, right, _, _ = pair
    ckpt = save_single_view_checkpoint(tmp_path / "single.ckpt")
    refused(config(left, right, tmp_path / "out", model=None, ckpt_path=ckpt), match="single_view model, not stereo")


def test_stereo_checkpoint_refuses_single_view_inputs(tmp_path, pair):
    ckpt, _ = save_stereo_checkpoint(tmp_path / "gwc.ckpt")
    cfg = OmegaConf.create({"ckpt_path": str(ckpt), "inputs": [str(pair[0])], "output_dir": str(tmp_path / "out")})
    refused(cfg, match="stereo model: give the pair as left=")


@pytest.mark.parametrize("model,ckpt", [(None, None), (SGBM, "gwc.ckpt")], ids=["neither", "both"])
def test_exactly_one_of_ckpt_path_and_model(tmp_path, pair, model, ckpt):
    ckpt_path = save_stereo_checkpoint(tmp_path / ckpt)[0] if ckpt else None
    refused(
        config(pair[0], pair[1], tmp_path / "out", model=model, ckpt_path=ckpt_path),
        match=f"exactly one of ckpt_path.*got {'both' if ckpt else 'neither'}",
    )


def test_trainable_model_needs_a_checkpoint(tmp_path, pair):
    refused(config(pair[0], pair[1], tmp_path / "out", model=GWC), match="GwcStereo is trainable: give ckpt_path")
