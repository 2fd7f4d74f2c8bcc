"""Self-supervised stereo adaptation: its loss terms against hand-made cases, no ground truth read in training, a
constant model pulled to the true disparity by the photometric term alone, and init_from (weights only)."""

import json

import pytest
import torch
from torch.utils.data import default_collate

from recon.engine.checkpoint import load_model_weights
from recon.engine.runner import train
from recon.engine.validation import ConfigError
from recon.models.gwc_stereo import GwcStereo
from recon.models.sgbm import SGBMStereo
from recon.tasks.stereo_adaptation import StereoAdaptationTask, edge_aware_smoothness, photometric_error
from tests.helpers.configs import TINY_GWC, TINY_STEREO_DATA
from tests.helpers.stereo_pairs import ConstantStereo, random_dot_item


def _batch(seeds=(0, 1), size=(32, 64)):
    return default_collate([random_dot_item(*size, seed=s, max_disparity=16) for s in seeds])


def test_photometric_error_is_zero_for_equal_images_and_grows_with_the_difference():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 24, 32)
    assert photometric_error(image, image).abs().max() < 1e-5
    small = photometric_error(image, (image + 0.05 * torch.randn_like(image)).clamp(0, 1)).mean()
    large = photometric_error(image, torch.rand_like(image)).mean()
    assert 0 < small < large


def test_smoothness_ignores_scale_and_constants_and_discounts_image_edges():
    image = torch.zeros(1, 3, 8, 8)
    assert edge_aware_smoothness(torch.full((1, 1, 8, 8), 5.0), image) == 0
    step = torch.zeros(1, 1, 8, 8)
    step[..., 4:] = 1.0
    step = step + 1.0
    torch.testing.assert_close(edge_aware_smoothness(3 * step, image), edge_aware_smoothness(step, image))
    edge = image.clone()
    edge[..., 4:] = 1.0  # an image edge where the disparity jumps costs less
    assert edge_aware_smoothness(step, edge) < edge_aware_smoothness(step, image)


def test_training_loss_reads_no_ground_truth_and_proxy_labels_are_sgbms_matches():
    torch.manual_seed(0)
    task = StereoAdaptationTask(GwcStereo(max_disparity=16, feature_channels=8, feature_blocks=1), reference=False)
    task.train()
    batch = _batch()
    out = task(batch)
    poisoned = {**batch, "disparity": torch.full_like(batch["disparity"], float("nan")), "valid": ~batch["valid"]}
    clean, dirty = task.losses(out, batch), task.losses(out, poisoned)
    assert torch.isfinite(clean["loss"]) and torch.equal(clean["loss"], dirty["loss"])
    assert {"proxy", "photometric", "smoothness", "proxy_fraction"} <= set(clean)
    proxy, mask = task.proxy_labels(batch)
    sgbm = SGBMStereo(max_disparity=16, fill_holes=False)(batch["left"], batch["right"])
    assert torch.equal(mask, sgbm["matched"] & (sgbm["disparity"] < 16)) and torch.equal(proxy, sgbm["disparity"])
    assert 0.3 < mask.float().mean() < 1  # random dots: SGBM matches most pixels right of its band
    gt_error = (proxy - batch["disparity"]).abs()[mask & batch["nonoccluded"]]
    assert (gt_error <= 1).float().mean() > 0.9  # and they are good labels


def test_photometric_term_alone_pulls_a_constant_model_to_the_dominant_disparity():
    item = random_dot_item(32, 64, seed=3, max_disparity=16)
    background = float(item["disparity"][0, -1, -1])  # the rectangle sits in the upper middle
    batch = default_collate([item])
    task = StereoAdaptationTask(
        ConstantStereo(value=background + 3.0, max_disparity=16), proxy_weight=0, smoothness_weight=0, reference=False
    ).train()
    optimizer = torch.optim.Adam(task.parameters(), lr=0.05)
    for _ in range(150):
        loss = task.losses(task(batch), batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    value = float(task.model.value.detach())
    assert abs(value - background) < 0.5, (value, background)


def test_bad_weights_are_refused_by_name():
    model = ConstantStereo()
    with pytest.raises(ValueError, match="task.photometric_weight"):
        StereoAdaptationTask(model, photometric_weight=-1)
    with pytest.raises(ValueError, match="at least one"):
        StereoAdaptationTask(model, proxy_weight=0, photometric_weight=0, smoothness_weight=0)


def test_init_from_copies_model_weights_and_refuses_another_model(tmp_path):
    torch.manual_seed(0)
    trained = GwcStereo(max_disparity=16, feature_channels=8, feature_blocks=1)
    task = StereoAdaptationTask(trained, reference=False)
    config = {
        "data": {"_target_": "recon.data.stereo.SyntheticStereoDataModule"},
        "model": {"_target_": "recon.models.gwc_stereo.GwcStereo", "max_disparity": 16},
        "task": {"_target_": "recon.tasks.stereo.StereoTask"},
    }
    torch.save({"state_dict": task.state_dict(), "recon": {"config": config}}, tmp_path / "a.ckpt")
    fresh = GwcStereo(max_disparity=32, feature_channels=8, feature_blocks=1)  # another range: same weights
    load_model_weights(fresh, tmp_path / "a.ckpt")
    for (name, a), b in zip(trained.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="do not fit"):
        load_model_weights(GwcStereo(max_disparity=16, feature_channels=16, feature_blocks=1), tmp_path / "a.ckpt")
    with pytest.raises(ValueError, match="its model is recon.models.gwc_stereo.GwcStereo"):
        load_model_weights(ConstantStereo(), tmp_path / "a.ckpt")


def test_an_adaptation_run_starts_from_a_trained_checkpoint_and_writes_its_summary(make_config, tmp_path):
    limits = ["logger=none", "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1"]
    base = [*TINY_STEREO_DATA, "model=gwc_stereo", *TINY_GWC, *limits]
    train(make_config(base, run_dir=tmp_path / "synthetic"))
    ckpt = json.loads((tmp_path / "synthetic" / "summary.json").read_text())["checkpoints"]["best"]
    both = [*base, "task=stereo_adaptation", f"init_from={ckpt}", f"ckpt_path={ckpt}"]
    with pytest.raises(ConfigError, match="either ckpt_path"):
        train(make_config(both, run_dir=tmp_path / "both"))
    adapt = make_config([*base, "task=stereo_adaptation", f"init_from={ckpt}"], run_dir=tmp_path / "adapted")
    train(adapt)
    summary = json.loads((tmp_path / "adapted" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["config"]["init_from"] == ckpt
    assert summary["config"]["task"]["_target_"].endswith("StereoAdaptationTask")
    assert "test/bad2_all" in summary["metrics"]
