"""recon-predict on a calibrated image set: the plane sweep on the real dinoSparseRing (downscaled, a few views) fuses
into a cloud inside the README's bounding box and the silhouettes, with the file's poses or with poses estimated from
the images (data.poses=estimated; also a folder of images without a camera file); a tiny MVSNet checkpoint end to
end; bad requests name the file or key and write nothing."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image
from scipy import ndimage

from recon.data.formats.image_folder import read_image_folder
from recon.data.formats.middlebury_mvs import read_middlebury_mvs
from recon.data.formats.pfm import read_pfm
from recon.data.multi_view_formats import MultiViewFormatDataModule
from recon.models.mvsnet import MVSNet
from recon.models.plane_sweep import PlaneSweepStereo
from recon.predict import predict
from recon.predict.common import output_stems
from recon.tasks.multi_view import MultiViewTask
from tests.helpers.configs import compose_config
from tests.helpers.paths import DINO, DINO_BOX

VIEWS = [0, 1, 2, 3, 4]  # five neighbours on the ring, 22.5 degrees apart
SWEEP = [
    "model=plane_sweep",
    "data=multi_view_dino",
    "data.image_scale=0.25",
    f"data.views={VIEWS}",
    "data.num_source=2",
    "model.num_depths=32",
    "checks.silhouette_threshold=0.19",
]
DATA = {
    "_target_": "recon.data.multi_view_formats.MultiViewFormatDataModule",
    "format": "middlebury_mvs",
    "depth_range": [0.55, 0.75],
    "image_scale": 0.125,
    "views": [0, 1, 2],
    "num_source": 2,
}
PLANE_SWEEP = {"_target_": "recon.models.plane_sweep.PlaneSweepStereo", "num_depths": 16}
TINY_MVSNET = {
    "num_depths": 8,
    "feature_channels": 8,
    "volume_channels": 4,
    "num_hourglasses": 0,
    "norm": "group",
    "groups": 2,
}


def inside_box(points: np.ndarray, enlarge: float = 1.2) -> np.ndarray:
    centre, half = DINO_BOX.mean(0), enlarge * (DINO_BOX[1] - DINO_BOX[0]) / 2
    return (np.abs(points - centre) <= half).all(1)


def silhouette_fractions(points: np.ndarray) -> np.ndarray:
    """Per dino view, the fraction of points projecting into its silhouette (README recipe: threshold 0.19, dilate
    by 10, erode by 7 pixels) or outside the image (unconstrained there)."""
    cameras = read_middlebury_mvs(DINO)
    fractions = []
    for v in range(len(cameras)):
        silhouette = ndimage.binary_erosion(
            ndimage.binary_dilation(cameras.load_image(v).numpy().max(0) > 0.19, iterations=10), iterations=7
        )
        x = points @ cameras[v].T_cw[:3, :3].T + cameras[v].T_cw[:3, 3]
        uv = np.round((x @ cameras[v].K.T)[:, :2] / x[:, 2:]).astype(int)
        H, W = silhouette.shape
        seen = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        ok = np.ones(len(points), bool)
        ok[seen] = silhouette[uv[seen, 1], uv[seen, 0]]
        fractions.append(ok.mean())
    return np.array(fractions)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """recon-predict model=plane_sweep data=multi_view_dino on 5 views at 160x120, composed like the CLI."""
    out = tmp_path_factory.mktemp("dino") / "out"
    cfg = compose_config("predict", SWEEP + [f"output_dir={out}"], out.parent / "run", out.parent / "cache")
    return cfg, predict(cfg), out


def test_plane_sweep_on_the_dino_ring_writes_depth_maps_and_a_fused_cloud(swept):
    cfg, result, out = swept
    stems = [f"dinoSR000{i + 1}" for i in VIEWS]
    assert sorted(p.name for p in out.iterdir()) == ["confidence", "depth", "fused.ply", "fused.png", "summary.json"]
    assert sorted(p.name for p in (out / "depth").iterdir()) == sorted(
        [f"{s}.pfm" for s in stems] + [f"{s}.png" for s in stems]
    )
    assert sorted(p.name for p in (out / "confidence").iterdir()) == [f"{s}.png" for s in stems]
    assert result["size"] == "160x120" and [v["id"] for v in result["views"]] == [f"{s}.png" for s in stems]
    assert result["views"][0]["sources"] == ["dinoSR0002.png", "dinoSR0003.png"]  # closest axes among the five

    dm = instantiate(cfg.data)
    dm.setup()
    item = dm.datasets["predict"][2]
    direct = PlaneSweepStereo(num_depths=32)(*(item[k][None] for k in ("images", "K", "T_cw", "depth_range")))
    depth = read_pfm(out / "depth" / "dinoSR0003.pfm")
    assert depth.shape == (120, 160) and np.array_equal(depth, direct["depth"][0, 0].numpy())
    assert ((depth >= 0.55 - 1e-6) & (depth <= 0.75 + 1e-6)).all()
    confidence = np.asarray(Image.open(out / "confidence" / "dinoSR0003.png"))
    assert confidence.dtype == np.uint8 and confidence.shape == (120, 160)
    np.testing.assert_allclose(confidence, direct["confidence"][0, 0].numpy() * 255, atol=0.51)
    assert np.asarray(Image.open(out / "depth" / "dinoSR0003.png")).shape == (120, 160, 3)
    assert Image.open(out / "fused.png").size[0] > 1000

    cloud = o3d.io.read_point_cloud(str(out / "fused.ply"))
    points, colors = np.asarray(cloud.points), np.asarray(cloud.colors)
    assert len(points) == result["points"] > 2000 and colors.shape == points.shape
    assert colors.min() >= 0 and colors.max() <= 1 and colors.mean() > 0.2  # the bright plaster, not the background
    # the real-data check: the fused surface lies on the dino (measured: 99.97% in the box, >= 83% in every silhouette)
    assert inside_box(points).mean() > 0.9
    assert silhouette_fractions(points).min() > 0.75
    # the same checks in the run's summary.json (tight box; silhouettes scaled to the 1/4 images)
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert metrics["real/fused_points"] == len(points) and result["metrics"] == metrics
    assert metrics["real/in_box_fraction"] == pytest.approx(inside_box(points, enlarge=1.0).mean(), abs=1e-6)
    assert 0.75 < metrics["real/silhouette_agreement"] <= 1


def test_estimated_poses_fuse_a_cloud_as_good_as_the_calibrated_one(swept, tmp_path):
    """data.poses=estimated: the same five views posed by structure from motion from their images (the camera file's
    poses withheld); the cloud is scored after the Sim(3) that aligns the estimated camera centres to the file's."""
    out = tmp_path / "out"
    cfg = compose_config("predict", SWEEP + ["data.poses=estimated", f"output_dir={out}"], tmp_path / "run", tmp_path)
    result = predict(cfg)
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    calibrated = swept[1]["metrics"]
    assert metrics["real/registered_views"] == 5 and [v["id"] for v in result["views"]] == [
        f"dinoSR000{i + 1}.png" for i in VIEWS
    ]
    # measured: 0.964 in the tight box (calibrated: 0.963), camera centres 4 mm (RMSE) from the calibrated ones
    assert metrics["real/camera_position_error"] < 0.01
    assert metrics["real/in_box_fraction"] >= 0.9 * calibrated["real/in_box_fraction"]
    assert metrics["real/fused_points"] > 0.5 * calibrated["real/fused_points"]
    # the cloud is written in the reconstruction's own frame: median depth about 1 in the first view, not 0.65 m
    assert 0.8 < result["views"][0]["median_depth"] < 1.2
    assert 0.8 < metrics["real/silhouette_agreement"] <= 1


def test_the_console_command_composes_data_and_model(tmp_path):
    script = Path(sys.executable).with_name("recon-predict")
    command = [str(script)] if script.is_file() else [shutil.which("recon-predict")]
    out = tmp_path / "out"
    run = subprocess.run(
        command
        + [
            "model=plane_sweep",
            "data=multi_view_dino",
            "data.image_scale=0.125",
            "data.views=[0,1,2]",
            "data.num_source=2",
            "model.num_depths=16",
            f"paths.root_dir={Path(__file__).resolve().parents[1]}",
            f"output_dir={out}",
            f"paths.log_dir={tmp_path / 'logs'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "recon-predict (multi-view)" in run.stdout
    assert (out / "depth" / "dinoSR0002.pfm").is_file() and (out / "fused.png").is_file()


def config(out, model=PLANE_SWEEP, ckpt_path=None, **data):
    return OmegaConf.create(
        {
            "ckpt_path": None if ckpt_path is None else str(ckpt_path),
            "model": model,
            "data": {**DATA, "root": str(DINO), **data},
            "output_dir": str(out),
        }
    )


def test_tiny_mvsnet_checkpoint_end_to_end(tmp_path):
    torch.manual_seed(0)
    task = MultiViewTask(MVSNet(**TINY_MVSNET), reference=False, fuse=False)
    ckpt = tmp_path / "mvsnet.ckpt"
    torch.save(
        {
            "state_dict": task.state_dict(),
            "recon": {
                "config": {
                    "data": {"_target_": "recon.data.multi_view.MultiViewDataModule"},
                    "model": {"_target_": "recon.models.mvsnet.MVSNet", **TINY_MVSNET},
                    "task": {"_target_": "recon.tasks.multi_view.MultiViewTask", "reference": False, "fuse": False},
                },
                "version": "0.1.0",
            },
        },
        ckpt,
    )
    out = tmp_path / "out"
    result = predict(config(out, model=None, ckpt_path=ckpt))
    assert result["size"] == "80x60" and len(result["views"]) == 3
    depth = read_pfm(out / "depth" / "dinoSR0001.pfm")
    dm = instantiate(OmegaConf.create({**DATA, "root": str(DINO)}))
    dm.setup()
    item = dm.datasets["predict"][0]
    with torch.no_grad():
        direct = task.eval().model(*(item[k][None] for k in ("images", "K", "T_cw", "depth_range")))["depth"]
    np.testing.assert_allclose(depth, direct[0, 0].numpy(), rtol=1e-5)
    assert ((depth >= 0.55 - 1e-6) & (depth <= 0.75 + 1e-6)).all() and (out / "fused.png").is_file()


def test_output_stems_drop_suffixes_and_folders():
    assert output_stems(["a.png", "sub/b.jpg", "00000003", "sub/a.png", "sub_a.png"]) == [
        "a",
        "sub_b",
        "00000003",
        "sub_a",
        "sub_a-1",
    ]


# --- bad requests: a clear error naming the file or key, and nothing written ---------------------------------------


def refused(cfg, match: str, error=(ValueError, FileNotFoundError)) -> None:
    with pytest.raises(error, match=match):
        predict(cfg)
    out = Path(cfg.output_dir)
    assert not out.exists() or not any(out.iterdir())


@pytest.fixture
def dino_copy(tmp_path) -> Path:
    """The dino set with its images linked and its camera file copied, to be edited."""
    root = tmp_path / "dino"
    root.mkdir()
    for image in DINO.glob("*.png"):
        (root / image.name).symlink_to(image)
    shutil.copy(DINO / "dinoSR_par.txt", root / "dinoSR_par.txt")
    return root


def edit_line(path: Path, number: int, edit) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = edit(lines[number - 1])
    path.write_text("\n".join(lines) + "\n")


def test_malformed_camera_file_names_the_file_and_line(tmp_path, dino_copy):
    par = dino_copy / "dinoSR_par.txt"
    edit_line(par, 3, lambda line: line.replace(" 0.000000 ", " zero ", 1))
    refused(config(tmp_path / "out", root=str(dino_copy)), match=rf"{par}, line 3: camera parameters")
    edit_line(par, 3, lambda line: line.rsplit(" ", 1)[0])
    refused(config(tmp_path / "out", root=str(dino_copy)), match=rf"{par}, line 3: expected 'imgname")


def test_camera_file_naming_a_missing_image(tmp_path, dino_copy):
    par = dino_copy / "dinoSR_par.txt"
    edit_line(par, 2, lambda line: line.replace("dinoSR0001.png", "gone.png"))
    refused(config(tmp_path / "out", root=str(dino_copy)), match=rf"{par}, line 2: image {dino_copy / 'gone.png'}")


def test_non_invertible_pose_names_the_line(tmp_path, dino_copy):
    par = dino_copy / "dinoSR_par.txt"
    edit_line(par, 4, lambda line: " ".join(line.split()[:10] + ["0"] * 3 + line.split()[13:]))  # R's first row 0
    refused(config(tmp_path / "out", root=str(dino_copy)), match=rf"{par}, line 4: pose is not invertible")


def test_truncated_image_is_refused_before_writing(tmp_path, dino_copy):
    image = dino_copy / "dinoSR0002.png"
    data = image.read_bytes()
    image.unlink()
    image.write_bytes(data[: len(data) // 2])  # the header reads, the pixels do not
    refused(config(tmp_path / "out", root=str(dino_copy)), match=rf"cannot decode image {image}")


@pytest.mark.parametrize("depth_range", [[0.0, 0.75], [-0.55, 0.75], [0.75, 0.55], [0.6, 0.6]])
def test_bad_depth_range_names_the_key(tmp_path, depth_range):
    refused(config(tmp_path / "out", depth_range=depth_range), match=r"data\.depth_range must be \[near, far\]")


def test_a_set_without_depth_range_needs_one(tmp_path):
    refused(config(tmp_path / "out", depth_range=None), match=r"data\.depth_range is required: view 'dinoSR0001\.png'")


@pytest.mark.parametrize(
    "model, keys, match",
    [
        ({"_target_": "recon.models.sgbm.SGBMStereo"}, {}, "model=SGBMStereo is a stereo model, not multi-view"),
        ({"_target_": "recon.models.mvsnet.MVSNet"}, {}, "model=MVSNet is trainable: give ckpt_path"),
        (PLANE_SWEEP, {"data": None}, "give the calibrated image set as data=multi_view_<format>"),
        (PLANE_SWEEP, {"left": "a.png"}, "not left"),
        (
            PLANE_SWEEP,
            {"data": {"_target_": "recon.data.stereo_formats.StereoFormatDataModule", "format": "motorcycle"}},
            "data=StereoFormatDataModule is stereo data",
        ),
        (PLANE_SWEEP, {"fusion": {"min_views": -1}}, "fusion.min_views"),
        (PLANE_SWEEP, {"fusion": {"confidence": 2.0}}, "fusion.confidence"),
        (PLANE_SWEEP, {"fusion": {"views": 2}}, "fusion: unknown keys"),
        (PLANE_SWEEP, {"checks": {"bounding_box": [[0, 0, 0], [1, 1]]}}, "checks.bounding_box must be"),
        (PLANE_SWEEP, {"checks": {"bounding_box": [[0, 0, 0], [1, -1, 1]]}}, "min < max"),
        (PLANE_SWEEP, {"checks": {"silhouette_threshold": "dark"}}, "checks.silhouette_threshold"),
    ],
)
def test_bad_requests_name_the_key(tmp_path, model, keys, match):
    cfg = config(tmp_path / "out", model=model)
    for key, value in keys.items():
        cfg[key] = value
    refused(cfg, match=match)


def test_an_empty_fused_cloud_writes_the_depth_maps_and_no_ply(tmp_path):
    cfg = config(tmp_path / "out")
    cfg.fusion = {"confidence": 1.0, "min_views": 2}  # ZNCC never reaches 1 on real images
    result = predict(cfg)
    assert result["points"] == 0 and result["ply"] is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["confidence", "depth", "fused.png"]


DINO_INTRINSICS = "[3310.400000,3325.500000,316.730000,200.550000]"  # dinoSR_par.txt's K (the same for every view)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Five dino images in a folder of their own, no camera file."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in VIEWS:
        shutil.copy(DINO / f"dinoSR000{i + 1}.png", folder / f"photo{i}.png")
    return folder


def test_a_folder_of_images_is_posed_and_fused(image_folder, tmp_path):
    out = tmp_path / "out"
    overrides = [
        "model=plane_sweep",
        "data=multi_view_images",
        f"data.root={image_folder}",
        f"data.options.intrinsics={DINO_INTRINSICS}",
        "data.image_scale=0.25",
        "data.num_source=2",
        "model.num_depths=32",
        f"output_dir={out}",
    ]
    result = predict(compose_config("predict", overrides, tmp_path / "run", tmp_path))
    assert [v["id"] for v in result["views"]] == [f"photo{i}.png" for i in VIEWS]
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert metrics["real/registered_views"] == 5 and "real/camera_position_error" not in metrics  # nothing to align to
    cloud = np.asarray(o3d.io.read_point_cloud(str(out / "fused.ply")).points)
    assert len(cloud) == result["points"] > 5000 and np.isfinite(cloud).all()
    # up to scale: the reconstruction's first camera sees the dino at a median depth of about 1
    assert 0.8 < result["views"][0]["median_depth"] < 1.2


def test_a_folder_with_one_image_is_refused(image_folder, tmp_path):
    for extra in image_folder.glob("photo[1-4].png"):
        extra.unlink()
    with pytest.raises(FileNotFoundError, match=rf"{image_folder} holds 1 image\(s\)"):
        read_image_folder(image_folder)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"poses": "calibrated"}, r"data\.format=image_folder has no poses: use data\.poses=estimated"),
        ({"options": {"intrinsics": [100.0, 100.0, 50.0]}}, r"data\.options\.intrinsics must be \[fx, fy, cx, cy\]"),
        ({"options": {"intrinsics": [-100.0, 100.0, 50.0, 40.0]}}, r"data\.options\.intrinsics: focal lengths"),
        ({"options": {"fov_deg": 180}}, r"data\.options\.fov_deg must be in \(0, 180\)"),
    ],
)
def test_bad_image_folder_settings_name_the_key(image_folder, kwargs, match):
    datamodule_kwargs = {"format": "image_folder", "root": str(image_folder), "poses": "estimated", **kwargs}
    with pytest.raises(ValueError, match=match):
        MultiViewFormatDataModule(**datamodule_kwargs).setup()


def test_a_folder_without_intrinsics_guesses_them_from_the_field_of_view(image_folder):
    cameras = read_image_folder(image_folder, fov_deg=60.0)
    focal = 320 / np.tan(np.radians(30))  # across the longer side, 640 px
    np.testing.assert_allclose(cameras.K[0], [[focal, 0, 319.5], [0, focal, 239.5], [0, 0, 1]])
    assert cameras.ids == [f"photo{i}.png" for i in VIEWS] and np.isnan(cameras.T_cw).all()
