"""Figures, point-cloud export and the PredictionMedia callback."""

from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch.utils.data import DataLoader

from recon.callbacks.prediction_media import PredictionMedia
from recon.viz.export import read_point_cloud, write_point_cloud
from recon.viz.figures import figure_to_array, point_cloud_figure, save_figure

H = W = 32


def camera_K(f: float = 40.0) -> torch.Tensor:
    return torch.tensor([[f, 0.0, (W - 1) / 2], [0.0, f, (H - 1) / 2], [0.0, 0.0, 1.0]])


def sphere(n: int, center=(0.0, 0.0, 3.0), radius: float = 0.8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(n, 3, generator=g)
    return torch.tensor(center) + radius * d / d.norm(dim=1, keepdim=True)


def titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


# --- figures -----------------------------------------------------------------------------------------------------


def test_figure_has_input_gt_prediction_and_side_views():
    fig = point_cloud_figure(
        torch.rand(3, H, W),
        sphere(500),
        sphere(100, seed=1),
        camera_K(),
        title="sample",
        metrics={"Chamfer-L1": 0.0123},
    )
    t = titles(fig)
    assert t[0].startswith("input")
    assert t[1].startswith("ground truth (500 pts)") and t[2].startswith("prediction (100 pts)")
    assert "Chamfer-L1 0.0123" in t[2]
    assert t[3:] == ["side view: overlay", "side view: ground truth", "side view: prediction"]
    assert fig._suptitle.get_text() == "sample"
    assert tuple(fig.get_size_inches()) == (9.0, 6.0) and fig.dpi == 100
    camera_axes = fig.axes[1:3]
    for ax in camera_axes:  # same pixel frame as the image, y down
        assert ax.get_xlim() == (-0.5, W - 0.5) and ax.get_ylim() == (H - 0.5, -0.5)
    side_axes = fig.axes[3:6]
    assert len({ax.get_xlim() for ax in side_axes}) == 1 and len({ax.get_ylim() for ax in side_axes}) == 1
    ylim = side_axes[0].get_ylim()
    assert ylim[0] > ylim[1]  # y down in the side view too
    # one shared depth colour scale for both projected clouds
    scales = {c.get_clim() for ax in camera_axes for c in ax.collections}
    assert len(scales) == 1
    arr = figure_to_array(fig)
    assert arr.shape == (600, 900, 3) and arr.dtype == np.uint8


def test_projection_lands_on_the_pixel_of_a_hand_placed_point():
    K = camera_K(f=20.0)
    point = torch.tensor([[0.5, -0.25, 2.0]])  # u = 20 * 0.25 + 15.5 = 20.5, v = 20 * -0.125 + 15.5 = 13
    fig = point_cloud_figure(torch.zeros(3, H, W), None, point, K)
    offsets = fig.axes[1].collections[0].get_offsets()
    np.testing.assert_allclose(np.asarray(offsets), [[20.5, 13.0]], atol=1e-5)


def test_figure_without_ground_truth_is_one_row():
    fig = point_cloud_figure(np.random.rand(H, W, 3), None, sphere(64), camera_K())
    t = titles(fig)
    assert t[0].startswith("input") and t[1].startswith("prediction") and t[2] == "side view: prediction"
    assert not any("ground truth" in x for x in t)


def test_figure_skips_points_behind_the_camera_and_nan():
    pred = torch.cat([sphere(10), torch.tensor([[0.0, 0.0, -1.0], [float("nan"), 0.0, 1.0]])])
    fig = point_cloud_figure(torch.rand(3, H, W), None, pred, camera_K())
    assert len(fig.axes[1].collections[0].get_offsets()) == 10


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image": torch.rand(4, H, W)}, "image"),
        ({"pred": torch.rand(10, 2)}, "pred"),
        ({"gt": torch.rand(3, 10)}, "gt"),
        ({"K": torch.eye(4)}, "K"),
    ],
)
def test_figure_rejects_bad_shapes(kwargs, match):
    args = {"image": torch.rand(3, H, W), "gt": sphere(10), "pred": sphere(10), "K": camera_K(), **kwargs}
    with pytest.raises(ValueError, match=match):
        point_cloud_figure(**args)


def test_save_figure_writes_png_atomically_and_closes(tmp_path):
    import matplotlib.pyplot as plt

    fig = point_cloud_figure(torch.rand(3, H, W), sphere(50), sphere(50, seed=1), camera_K())
    n_before = len(plt.get_fignums())
    out = save_figure(fig, tmp_path / "sub" / "fig.png")
    assert Image.open(out).size == (900, 600)
    assert len(plt.get_fignums()) == n_before - 1
    assert [p.name for p in out.parent.iterdir()] == ["fig.png"]


def test_save_figure_into_unwritable_place_names_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    fig = point_cloud_figure(torch.rand(3, H, W), None, sphere(5), camera_K())
    with pytest.raises(OSError, match="fig.png"):
        save_figure(fig, blocker / "fig.png")


# --- point-cloud export ------------------------------------------------------------------------------------------


def test_ply_round_trip_through_open3d(tmp_path):
    points = sphere(257).numpy().astype(np.float32)
    colors = np.random.default_rng(0).random((257, 3))
    path = write_point_cloud(tmp_path / "cloud.ply", torch.from_numpy(points), colors)
    back = np.asarray(o3d.io.read_point_cloud(str(path)).points)  # independent reader: open3d itself
    np.testing.assert_allclose(back, points, rtol=0, atol=1e-6)
    ours, ours_colors = read_point_cloud(path, with_colors=True)
    assert ours.dtype == np.float32 and ours.shape == (257, 3)
    np.testing.assert_allclose(ours, points, atol=1e-6)
    np.testing.assert_allclose(ours_colors, colors, atol=1 / 255 + 1e-6)  # stored as 8-bit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cloud.ply"]  # no temporary left behind


def test_write_replaces_existing_file(tmp_path):
    write_point_cloud(tmp_path / "c.ply", np.zeros((5, 3)))
    write_point_cloud(tmp_path / "c.ply", np.ones((7, 3)))
    assert read_point_cloud(tmp_path / "c.ply").shape == (7, 3)


@pytest.mark.parametrize(
    "points, colors, match",
    [
        (np.zeros((5, 2)), None, "points must be"),
        (np.zeros((0, 3)), None, "points must be"),
        (np.zeros((2, 5, 3)), None, "points must be"),
        (np.array([[0.0, float("nan"), 1.0], [0, 0, 0]]), None, "non-finite"),
        (np.array([[0.0, float("inf"), 1.0]]), None, "non-finite"),
        (np.zeros((5, 3)), np.zeros((4, 3)), "colors must be"),
        (np.zeros((5, 3)), np.full((5, 3), 2.0), r"colors must be .*\[0, 1\]"),
    ],
)
def test_write_validates(tmp_path, points, colors, match):
    with pytest.raises(ValueError, match=match):
        write_point_cloud(tmp_path / "bad.ply", points, colors)
    assert list(tmp_path.iterdir()) == []


def test_write_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match="unsupported point-cloud format"):
        write_point_cloud(tmp_path / "c.obj", np.zeros((3, 3)))


def test_write_into_unwritable_dir_is_clear_and_leaves_nothing(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")  # a file where the folder should be: unwritable even for root
    with pytest.raises(OSError, match="not_a_dir/c.ply"):
        write_point_cloud(blocker / "c.ply", np.zeros((3, 3)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_dir"]


def test_write_reports_open3d_failure_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(o3d.io, "write_point_cloud", lambda *a, **k: False)
    with pytest.raises(OSError, match="c.ply.*open3d"):
        write_point_cloud(tmp_path / "c.ply", np.zeros((3, 3)))
    assert list(tmp_path.iterdir()) == []


def test_read_missing_and_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ply"):
        read_point_cloud(tmp_path / "nope.ply")
    (tmp_path / "empty.ply").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.ply"):
        read_point_cloud(tmp_path / "empty.ply")


# --- PredictionMedia callback --------------------------------------------------------------------------------------


def fake_items(n: int) -> list[dict]:
    items = []
    for i in range(n):
        items.append(
            {
                "image": torch.rand(3, H, W),
                "K": camera_K(),
                "points": sphere(128, seed=i),
                "center": torch.tensor([0.0, 0.0, 3.0]),
                "mask": torch.ones(1, H, W, dtype=torch.bool),
                "depth": torch.full((1, H, W), 3.0),
                "index": torch.tensor(i),
            }
        )
    return items


def tiny_task():
    from recon.models.point_set_cnn import PointSetCNN
    from recon.tasks.single_view import SingleViewTask

    return SingleViewTask(PointSetCNN(num_points=64, widths=[8, 16], feature_dim=32, hidden_dim=64), reference=False)


def test_prediction_media_in_a_real_test_run(tmp_path):
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    media = PredictionMedia(str(tmp_path / "media"), num_samples=3)
    tb = TensorBoardLogger(tmp_path / "tb", name="", version="")
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=[tb, CSVLogger(tmp_path / "csv")],
        callbacks=[media],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    loader = DataLoader(fake_items(5), batch_size=2)  # 3 samples span two batches
    trainer.test(tiny_task(), dataloaders=loader)

    names = sorted(p.name for p in (tmp_path / "media").iterdir())
    assert names == sorted(f"test_{i}{s}" for i in range(3) for s in (".png", ".npz", "_pred.ply", "_gt.ply"))
    assert read_point_cloud(tmp_path / "media" / "test_2_pred.ply").shape == (64, 3)
    np.testing.assert_allclose(read_point_cloud(tmp_path / "media" / "test_2_gt.ply"), sphere(128, seed=2), atol=1e-6)
    with np.load(tmp_path / "media" / "test_2.npz") as sample:  # the report's copy of the same sample
        assert str(sample["problem"]) == "points" and sample["image"].dtype == np.uint8
        np.testing.assert_allclose(sample["gt"], sphere(128, seed=2), atol=1e-6)
        np.testing.assert_array_equal(sample["pred"], read_point_cloud(tmp_path / "media" / "test_2_pred.ply"))

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0}).Reload()
    assert {f"test/media/figure_{i}" for i in range(3)} <= set(events.Tags()["images"])


def test_prediction_media_logs_to_wandb_offline(tmp_path, monkeypatch):
    from pytorch_lightning.loggers import WandbLogger

    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(project="recon-test", save_dir=str(tmp_path), offline=True)
    media = PredictionMedia(str(tmp_path / "media"), num_samples=1)
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=logger,
        callbacks=[media],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.test(tiny_task(), dataloaders=DataLoader(fake_items(2), batch_size=2))
    run_dir = Path(logger.experiment.dir)
    logger.experiment.finish()
    files = [p.name for p in run_dir.rglob("*") if p.is_file()]
    assert any(n.startswith("pointcloud_0") for n in files) and any(n.startswith("figure_0") for n in files)


def test_prediction_media_only_on_rank_zero(tmp_path):
    class FakeTrainer:
        is_global_zero = False
        loggers: tuple = ()
        global_step = 0

    media = PredictionMedia(str(tmp_path / "media"), num_samples=2)
    batch = torch.utils.data.default_collate(fake_items(2))
    media.on_test_batch_end(FakeTrainer(), tiny_task().eval(), None, batch, 0)
    assert not (tmp_path / "media").exists()
