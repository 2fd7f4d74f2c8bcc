"""Multi-view depth figures (reference | sources | ground truth | prediction | relative error | confidence) and
PredictionMedia on a multi-view stereo task."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from recon.callbacks.prediction_media import PredictionMedia
from recon.tasks.multi_view import MultiViewTask
from recon.viz.figures import save_figure
from recon.viz.multi_view import depth_figure
from tests.helpers.mvs_planes import ConstantDepth, collate, four_scenes


def hand_item():
    gt = torch.tensor([[[2.0, 4.0, 0.0, 5.0], [3.0, 8.0, 6.0, 2.5], [4.0, 4.0, 5.0, 7.0]]])  # (1, 3, 4)
    valid = gt > 0
    valid[0, 2, 3] = False  # 7.0 has no ground truth
    pred = gt * torch.tensor([[[1.05, 0.7, 1.0, 1.0], [1.3, 1.0, 0.95, 1.02], [1.0, 1.5, 1.0, 1.0]]])
    return {
        "images": torch.rand(3, 3, 3, 4, generator=torch.Generator().manual_seed(0)),
        "gt": gt,
        "pred": pred,
        "valid": valid,
        "depth_range": torch.tensor([1.0, 9.0]),
        "confidence": torch.full_like(gt, 0.7),
    }


def test_depth_figure_panels_scales_and_metrics(tmp_path):
    item = hand_item()
    fig = depth_figure(
        item["images"],
        item["gt"],
        item["pred"],
        item["valid"],
        item["depth_range"],
        confidence=item["confidence"],
        title="t",
    )
    panels = {ax.get_title().split(" (")[0].split("\n")[0]: ax.images[0] for ax in fig.axes if ax.images}
    assert list(panels) == [
        "reference",
        "ground truth",
        "(pred - gt) / gt",
        "sources 1-2 of 2",
        "prediction",
        "confidence",
    ]
    assert panels["ground truth"].get_clim() == panels["prediction"].get_clim() == (1.0, 9.0)
    assert panels["(pred - gt) / gt"].get_clim() == (-0.1, 0.1)
    assert panels["sources 1-2 of 2"].get_array().shape[1] > 2 * 4  # two tiles side by side

    g, p, v = item["gt"].numpy()[0], item["pred"].numpy()[0], item["valid"].numpy()[0]
    error = panels["(pred - gt) / gt"].get_array()
    np.testing.assert_array_equal(error.mask, ~v)
    np.testing.assert_allclose(error.compressed(), (p[v] - g[v]) / g[v], rtol=1e-6)
    assert panels["ground truth"].get_array().mask[0, 2]

    title = next(ax.get_title() for ax in fig.axes if ax.get_title().startswith("(pred"))
    abs_rel = float(re.search(r"AbsRel ([0-9.e+-]+)", title).group(1))
    delta = float(re.search(r"<1\.25 \(%\) ([0-9.e+-]+)", title).group(1))
    assert abs_rel == pytest.approx(np.mean(np.abs(p - g)[v] / g[v]), rel=1e-3)
    assert delta == pytest.approx(100 * np.mean(np.maximum(p[v] / g[v], g[v] / p[v]) < 1.25), rel=1e-3)  # 7 of 10
    assert plt.imread(save_figure(fig, tmp_path / "f.png")).shape[1] > 400


def test_depth_figure_reference_only_without_ground_truth_and_bad_shapes():
    item = hand_item()
    fig = depth_figure(
        item["images"][0], item["gt"], item["pred"], torch.zeros_like(item["valid"]), item["depth_range"]
    )
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titles) == 4 and "no valid ground truth" in titles[2]
    plt.close(fig)
    with pytest.raises(ValueError, match="one size"):
        depth_figure(item["images"], item["gt"], item["pred"][..., :3], item["valid"], item["depth_range"])


def test_prediction_media_writes_and_logs_multi_view_figures(tmp_path):
    from pytorch_lightning.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    media = PredictionMedia(str(tmp_path / "media"), num_samples=2)
    tb = TensorBoardLogger(tmp_path / "tb", name="", version="")
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=tb,
        callbacks=[media],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    loader = DataLoader(four_scenes()[:3], batch_size=1, collate_fn=collate)  # 2 figures span two batches
    trainer.test(MultiViewTask(ConstantDepth(3.0), reference=False, fuse=False), dataloaders=loader, verbose=False)
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == [
        "test_0.npz",
        "test_0.png",
        "test_1.npz",
        "test_1.png",
    ]
    for i in range(2):
        height, width, _ = plt.imread(tmp_path / "media" / f"test_{i}.png").shape
        assert width > 600 and height > 300
    scene = four_scenes()[1]
    with np.load(tmp_path / "media" / "test_1.npz") as sample:
        assert str(sample["problem"]) == "multi_view"
        np.testing.assert_allclose(sample["K"], scene["K"].numpy())
        np.testing.assert_allclose(sample["T_cw"], scene["T_cw"].numpy())
        np.testing.assert_allclose(sample["pred"], 3.0)  # ConstantDepth(3.0)
        np.testing.assert_array_equal(sample["mask"], scene["mask"][0].numpy())
        assert sample["images"].shape == (*scene["images"].shape[:1], *scene["images"].shape[2:], 3)
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0, "tensors": 0}).Reload()
    assert {"test/media/figure_0", "test/media/figure_1"} <= set(events.Tags()["images"])
    assert {"test/media/pointcloud_0_VERTEX", "test/media/pointcloud_1_COLOR"} <= set(events.Tags()["tensors"])
