"""Real-format stereo datamodules (data=stereo_<format>): the Motorcycle pair under the documented disparity
convention, every format config, splits and crops on Middlebury 2014 folders the test writes, and the checks of
the disparity range (data against model, ground truth against data) through recon-eval."""

import json

import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue

from recon.data.formats import check_stereo_item
from recon.data.stereo_formats import StereoFormatDataModule
from recon.engine.runner import evaluate, train
from recon.engine.validation import ConfigError, validate_components
from recon.models.gwc_stereo import GwcStereo
from recon.tasks.stereo import StereoTask
from tests.helpers.configs import TINY_GWC, TINY_STEREO_DATA
from tests.helpers.middlebury2014_files import make_scene
from tests.helpers.photometric import photometric_error
from tests.helpers.sceneflow_files import write_sceneflow_frame

FORMATS = [
    "stereo_middlebury2014",
    "stereo_middlebury_classic",
    "stereo_kitti",
    "stereo_sceneflow",
    "stereo_folder_pairs",
]


def middlebury_root(tmp_path, count=4, H=8, W=12):
    root = tmp_path / "middlebury"
    for i in range(count):
        make_scene(root / f"scene{i}", H=H, W=W, seed=i)
    return root


def test_motorcycle_datamodule_items_follow_the_contract_and_the_warp_convention(make_config):
    dm = instantiate(make_config(["data=stereo_motorcycle", "model=gwc_stereo"]).data)
    dm.setup()
    assert dm.split_ids()["test"] == ["motorcycle"] and dm.max_disparity == 64
    batch = next(iter(dm.test_dataloader()))
    item = {k: v[0] for k, v in batch.items()}
    check_stereo_item(item)
    d, valid = item["disparity"][0], item["valid"][0]
    assert item["left"].shape == (3, 500, 741) and 0.85 < valid.float().mean() < 0.98
    # x_right = x_left - d: the right view sampled there reproduces the left view; d = 0 or -d do not
    error = photometric_error(item, d, valid)
    assert error < 0.3 * photometric_error(item, torch.zeros_like(d), valid)
    assert error < 0.3 * photometric_error(item, -d, valid)


@pytest.mark.parametrize("name", FORMATS)
def test_format_configs_compose_and_require_a_root(make_config, name):
    cfg = make_config([f"data={name}", "model=gwc_stereo"])
    assert cfg.data._target_ == "recon.data.stereo_formats.StereoFormatDataModule"
    assert cfg.task._target_ == "recon.tasks.stereo.StereoTask"  # the data picks the stereo task
    assert OmegaConf.to_container(cfg.model, resolve=True)["max_disparity"] == cfg.data.max_disparity
    with pytest.raises((MissingMandatoryValue, InstantiationException), match="root"):
        instantiate(cfg.data)


def test_middlebury_folder_splits_crops_and_batches(tmp_path, make_config):
    root = middlebury_root(tmp_path)
    cfg = make_config(
        [
            "data=stereo_middlebury2014",
            f"data.root={root}",
            "data.val_fraction=0.5",
            "data.batch_size=2",
            "+data.augment.crop_size=[4,6]",
            "data.max_disparity=8",
        ]
    )
    dm = instantiate(cfg.data)
    ids = dm.split_ids()
    assert len(ids["val"]) == 2 and sorted(ids["train"] + ids["val"]) == [f"scene{i}" for i in range(4)]
    assert ids["test"] == [f"scene{i}" for i in range(4)]  # test_split: all
    assert instantiate(cfg.data, split_seed=0).split_ids() == ids  # fixed by split_seed
    assert instantiate(cfg.data, test_split="val").split_ids()["test"] == ids["val"]
    batch = next(iter(dm.train_dataloader()))
    assert batch["left"].shape == (2, 3, 4, 6) and batch["disparity"].shape == (2, 1, 4, 6)
    test = next(iter(dm.test_dataloader()))
    assert test["left"].shape == (1, 3, 8, 12)
    raw = make_scene(tmp_path / "again", H=8, W=12, seed=0)  # scene0's own ground truth
    finite = np.isfinite(raw)
    np.testing.assert_allclose(test["disparity"][0, 0].numpy()[finite], raw[finite])
    assert not test["valid"][0, 0, 0, 0]  # inf: no ground truth


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"format": "pfm_folder"}, ValueError, "data.format must be one of"),
        ({"format": "kitti"}, ValueError, "data.root is required"),
        ({"format": "kitti", "root": "/nonexistent/kitti"}, FileNotFoundError, "/nonexistent/kitti"),
        ({"format": "motorcycle", "batch_size": 4}, ValueError, "crop_size"),
        ({"format": "motorcycle", "val_fraction": 1.0}, ValueError, "val_fraction"),
        ({"format": "motorcycle", "max_disparity": 0}, ValueError, "max_disparity"),
        ({"format": "motorcycle", "test_split": "train"}, ValueError, "test_split"),
    ],
)
def test_bad_arguments_name_the_key(kwargs, error, match):
    with pytest.raises(error, match=match):
        StereoFormatDataModule(**kwargs)


def test_reader_options_errors_name_the_key(tmp_path):
    dm = StereoFormatDataModule("middlebury2014", root=str(middlebury_root(tmp_path)), options={"year": 2014})
    with pytest.raises(ValueError, match="data.options"):
        dm.setup()


def test_ground_truth_beyond_the_declared_range_is_refused_naming_the_pair(tmp_path):
    dm = StereoFormatDataModule("middlebury2014", root=str(middlebury_root(tmp_path)), max_disparity=2)
    dm.setup()
    with pytest.raises(ValueError, match=r"'scene0'.*data\.max_disparity = 2"):
        next(iter(dm.test_dataloader()))


def sceneflow_root(tmp_path, H=16, W=48):
    """Two FlyingThings3D-like frames whose ground truth runs from 1 to 400 px, beyond the shipped 192."""
    root, truth = tmp_path / "sceneflow", {}
    for i, frame in enumerate(("0006", "0007")):
        values = np.linspace(1.0, 400.0, H * W, dtype=np.float32).reshape(H, W)
        values = np.roll(values, 7 * i, axis=1)
        values[0, 0] = 192.0  # exactly the limit: out, like SceneFlow's gt < maxdisp
        values[0, 1] = 191.5
        write_sceneflow_frame(root, "TRAIN/A/0000", frame, values, seed=i)
        truth[f"TRAIN/A/0000/{frame}"] = values
    return root, truth


def test_sceneflow_default_excludes_ground_truth_beyond_its_range_like_the_sceneflow_protocol(tmp_path, make_config):
    root, truth = sceneflow_root(tmp_path)
    cfg = make_config(["data=stereo_sceneflow", f"data.root={root}", "data.val_fraction=0.5", "model=gwc_stereo"])
    assert cfg.data.max_disparity == 192 and cfg.data.disparities_above_max == "exclude"
    dm = instantiate(cfg.data)
    dm.setup()
    assert dm.describe()["disparities_above_max"] == "exclude"
    for split in ("train", "val", "test"):
        dataset = dm.datasets[split]
        for i, frame_id in enumerate(dataset.ids):
            item = dataset[i]
            check_stereo_item(item)
            expected = truth[frame_id]
            keep = (expected > 0) & (expected < 192)
            np.testing.assert_array_equal(item["valid"][0].numpy(), keep)
            np.testing.assert_array_equal(item["nonoccluded"][0].numpy(), keep)
            np.testing.assert_array_equal(item["disparity"][0].numpy(), np.where(keep, expected, 0))
            assert 0.3 < keep.mean() < 0.6  # both sides of the limit are present
    assert len(list(dm.test_dataloader())) == 2  # every pair is read, none aborts


def test_refuse_stops_at_the_first_pair_beyond_the_range_and_bad_values_name_the_key(tmp_path):
    root, _ = sceneflow_root(tmp_path)
    dm = StereoFormatDataModule("sceneflow", root=str(root), max_disparity=192)
    dm.setup()
    with pytest.raises(ValueError, match=r"up to 400\.0 px.*data\.disparities_above_max=exclude"):
        next(iter(dm.test_dataloader()))
    with pytest.raises(ValueError, match="data.disparities_above_max must be one of"):
        StereoFormatDataModule("sceneflow", root=str(root), disparities_above_max="clip")


def test_a_model_whose_range_does_not_cover_the_data_is_refused():
    dm = StereoFormatDataModule("motorcycle", max_disparity=64)
    task = StereoTask(GwcStereo(max_disparity=16, feature_channels=8, feature_blocks=1), reference=False)
    with pytest.raises(ConfigError, match=r"data.max_disparity = 64 exceeds model.max_disparity = 16"):
        validate_components(dm, task.model, task)
    validate_components(StereoFormatDataModule("motorcycle", max_disparity=16), task.model, task)


def tiny_stereo_checkpoint(make_config, tmp_path, max_disparity: int):
    cfg = make_config(
        [
            *TINY_STEREO_DATA,
            "model=gwc_stereo",
            *TINY_GWC,
            "trainer.max_epochs=1",
            "logger=none",
            f"data.max_disparity={max_disparity}",
            "+trainer.limit_train_batches=1",
            "+trainer.limit_val_batches=1",
            "+trainer.limit_test_batches=1",
        ],
        run_dir=tmp_path / "train",
    )
    train(cfg)
    return json.loads((tmp_path / "train" / "summary.json").read_text())["checkpoints"]["best"]


def test_recon_eval_scores_a_checkpoint_and_sgbm_on_the_motorcycle_pair(make_config, tmp_path):
    ckpt = tiny_stereo_checkpoint(make_config, tmp_path, max_disparity=64)
    cfg = make_config([f"ckpt_path={ckpt}", "data=stereo_motorcycle"], config_name="eval", run_dir=tmp_path / "eval")
    with open_dict(cfg):
        cfg.data.max_disparity = 64
    metrics = evaluate(cfg)
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["splits"]["test"] == ["motorcycle"]
    assert summary["data"]["format"] == "motorcycle"
    for key in ("epe_all", "bad2_all", "d1_all"):
        assert np.isfinite(metrics[f"test/{key}"])
        assert np.isfinite(metrics[f"test/reference/{key}"])
    assert metrics["test/reference/bad2_all"] < 25  # OpenCV SGBM, scored beside the model, does well here
    assert metrics["test/bad2_all"] > metrics["test/reference/bad2_all"]  # an untrained network does not


def test_recon_eval_refuses_a_model_too_narrow_for_the_data_before_testing(make_config, tmp_path):
    ckpt = tiny_stereo_checkpoint(make_config, tmp_path, max_disparity=16)
    cfg = make_config([f"ckpt_path={ckpt}", "data=stereo_motorcycle"], config_name="eval", run_dir=tmp_path / "eval")
    with pytest.raises(ConfigError, match="model.max_disparity = 16"):
        evaluate(cfg)
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["status"] == "failed" and "metrics" not in summary
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["error.txt", "summary.json"]


def test_recon_eval_task_overrides_change_settings_not_the_class(make_config, tmp_path):
    ckpt = tiny_stereo_checkpoint(make_config, tmp_path, max_disparity=64)
    cfg = make_config(
        [f"ckpt_path={ckpt}", "data=stereo_motorcycle", "+task_overrides.reference=false"],
        config_name="eval",
        run_dir=tmp_path / "eval",
    )
    metrics = evaluate(cfg)
    assert np.isfinite(metrics["test/epe_all"]) and "test/reference/epe_all" not in metrics
    cfg = make_config(
        [f"ckpt_path={ckpt}", "+task_overrides._target_=recon.tasks.single_view.SingleViewTask"],
        config_name="eval",
        run_dir=tmp_path / "eval_class",
    )
    with pytest.raises(ValueError, match="cannot change the checkpoint's task class"):
        evaluate(cfg)
