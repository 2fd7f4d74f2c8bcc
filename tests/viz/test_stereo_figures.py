"""Stereo figures (left | ground truth | prediction | error) and PredictionMedia on a stereo task."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from recon.callbacks.prediction_media import PredictionMedia
from recon.tasks.stereo import StereoTask
from recon.viz.figures import save_figure
from recon.viz.stereo import disparity_figure
from tests.helpers.stereo_pairs import ConstantStereo, random_dot_item


def test_disparity_figure_panels_and_scales(tmp_path):
    item = random_dot_item(24, 40, seed=1)
    pred = item["disparity"] + 1.0
    fig = disparity_figure(item["left"], item["disparity"], pred, item["valid"], title="t", metrics={"EPE": 1.0})
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 4
    gt_img, pred_img, err_img = images[1], images[2], images[3]
    assert gt_img.get_clim() == pred_img.get_clim() and gt_img.get_clim()[0] == 0
    assert err_img.get_clim() == (-3.0, 3.0)
    error = err_img.get_array()
    assert error.mask[1, 1] and not error.mask[10, 10]  # the item's 3 x 3 block without ground truth
    np.testing.assert_allclose(error.compressed(), 1.0)
    assert "EPE 1" in fig.axes[3].get_title()
    path = save_figure(fig, tmp_path / "f.png")
    assert plt.imread(path).shape[1] > 400


def test_disparity_figure_without_ground_truth_and_bad_shapes():
    left, zero = torch.rand(3, 8, 12), torch.zeros(1, 8, 12)
    plt.close(disparity_figure(left, zero, torch.rand(1, 8, 12), torch.zeros(1, 8, 12, dtype=torch.bool)))
    with pytest.raises(ValueError, match="one size"):
        disparity_figure(left, zero, torch.rand(1, 8, 11), zero.bool())


def test_prediction_media_writes_and_logs_stereo_figures(tmp_path):
    from pytorch_lightning.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    media = PredictionMedia(str(tmp_path / "media"), num_samples=3)
    tb = TensorBoardLogger(tmp_path / "tb", name="", version="")
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=tb,
        callbacks=[media],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    items = [random_dot_item(24, 40, seed=s) for s in range(5)]
    trainer.test(StereoTask(ConstantStereo(), reference=False), dataloaders=DataLoader(items, batch_size=2))
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == sorted(
        f"test_{i}{s}" for i in range(3) for s in (".png", ".npz")
    )
    with np.load(tmp_path / "media" / "test_1.npz") as sample:
        item = items[1]
        assert str(sample["problem"]) == "stereo" and sample["left"].shape == (24, 40, 3)
        np.testing.assert_array_equal(sample["gt"], item["disparity"][0].numpy())
        np.testing.assert_array_equal(sample["valid"], item["valid"][0].numpy())
        np.testing.assert_allclose(sample["pred"], 4.0)  # ConstantStereo's value
        assert float(sample["focal"]) == 50.0 and float(sample["baseline"]) == pytest.approx(0.1)
        np.testing.assert_allclose(sample["K"], [[50.0, 0, 19.5], [0, 50.0, 11.5], [0, 0, 1]])  # centred, square
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0, "tensors": 0}).Reload()
    assert {f"test/media/figure_{i}" for i in range(3)} <= set(events.Tags()["images"])
    # the back-projected clouds in TensorBoard's mesh plugin (vertex and colour tensors)
    assert {f"test/media/pointcloud_{i}_VERTEX" for i in range(3)} <= set(events.Tags()["tensors"])
