"""Bad configs fail fast with a message naming the key, and leave a failed summary, not a half-written one."""

import json

import pytest
from torch import nn

from recon.data.base import ReconDataModule
from recon.data.single_view import SingleViewDataModule
from recon.engine.runner import train
from recon.engine.validation import ConfigError, validate_components
from recon.tasks.single_view import SingleViewTask
from tests.helpers.configs import TINY_DATA, TINY_MODEL


class FakeStereoNet(nn.Module):
    """Stands in for a stereo model: only its declared problem matters here."""

    problem = "stereo"
    inputs = ("left", "right")


class TinyPointNet(nn.Module):
    """A single-view model that follows the contract: two points from the first pixels."""

    problem = "single_view"
    inputs = ("image",)

    def forward(self, image):
        return {"points": image.flatten(1)[:, :6].reshape(-1, 2, 3)}


class ProblemlessNet(nn.Module):
    """A model that does not declare the problem it solves."""

    inputs = ("image",)

    def forward(self, image):
        return {"points": image.flatten(1)[:, :6].reshape(-1, 2, 3)}


class UndescribedData(ReconDataModule):
    """A datamodule without describe()."""

    problem = "single_view"

    def __init__(self):
        super().__init__(batch_size=2)

    def example_batch(self, batch_size: int = 2) -> dict:
        return SingleViewDataModule().example_batch(batch_size)


def failed_summary(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert (run_dir / "error.txt").is_file()
    assert not list(run_dir.rglob("*.ckpt"))
    return summary


def test_incompatible_model_and_data_fails_before_any_compute(make_config, tmp_path, cache_dir):
    before = set(cache_dir.rglob("*.npz"))
    cfg = make_config(TINY_DATA + ["~model", "+model._target_=tests.test_validation.FakeStereoNet"])
    with pytest.raises(ConfigError, match=r"incompatible data and model.*FakeStereoNet \(stereo\)"):
        train(cfg)
    assert set(cache_dir.rglob("*.npz")) == before, "nothing may be rendered for an invalid config"
    assert "incompatible" in failed_summary(tmp_path / "run")["error"]


@pytest.mark.parametrize(
    "override, key",
    [
        ("data.batch_size=-4", "data.batch_size"),
        ("data.synthetic.num_train=-1", "num_train"),
        ("data.synthetic.image_size=[0,32]", "image_size"),
        ("model.num_points=-5", "num_points"),
        ("task.loss=chamfer_l3", "task.loss"),
        ("+data.synthetic.no_such_field=1", "no_such_field"),
    ],
)
def test_nonsense_values_name_the_key(make_config, tmp_path, override, key):
    cfg = make_config(TINY_DATA + TINY_MODEL + [override])
    with pytest.raises(Exception, match=key):
        train(cfg)
    failed_summary(tmp_path / "run")


def test_unknown_target_is_named(make_config):
    cfg = make_config(TINY_DATA + ["model._target_=recon.models.nope.Net"])
    with pytest.raises(ConfigError, match=r"model\._target_ = 'recon\.models\.nope\.Net' cannot be imported"):
        train(cfg)


def test_model_that_cannot_run_on_the_data_shapes(make_config):
    cfg = make_config(TINY_DATA + ["model=cnn_depth", "model.widths=[8,16,32,64,128,256]"])
    with pytest.raises(ConfigError, match="DepthCNN cannot run on SingleViewDataModule batches"):
        train(cfg)


def test_unwritable_output_dir(make_config, tmp_path):
    blocker = tmp_path / "blocker"  # a file where a directory is needed: unwritable even for root
    blocker.write_text("")
    cfg = make_config(TINY_DATA, run_dir=blocker / "run")
    with pytest.raises(ConfigError, match=r"output directory .*blocker/run is not writable"):
        train(cfg)
    assert blocker.read_text() == ""


@pytest.mark.parametrize("content", ["v 0 0 0\nf 1 2 99\ngarbage", ""])
def test_corrupt_or_empty_mesh_is_named_and_nothing_is_cached(make_config, tmp_path, cache_dir, content):
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    (meshes / "broken.obj").write_text(content)
    before = set(cache_dir.rglob("*"))
    cfg = make_config(TINY_DATA + TINY_MODEL + [f"data.synthetic.mesh_dir={meshes}"])
    with pytest.raises(ValueError, match="broken.obj"):
        train(cfg)
    assert not [p for p in set(cache_dir.rglob("*")) - before if p.is_file()], "no cache file may be written"
    failed_summary(tmp_path / "run")


def test_a_datamodule_missing_a_contract_member_is_named():
    model = TinyPointNet()
    with pytest.raises(
        ConfigError,
        match=r"data\._target_ = tests\.test_validation\.UndescribedData does not provide "
        r"describe\(\)",
    ):
        validate_components(UndescribedData(), model, SingleViewTask(model, reference=False))


def test_a_model_missing_problem_is_named(tmp_path):
    model = ProblemlessNet()
    with pytest.raises(
        ConfigError,
        match=r"model\._target_ = tests\.test_validation\.ProblemlessNet does not provide "
        r"problem \(",
    ):
        validate_components(SingleViewDataModule(cache_dir=str(tmp_path)), model, SingleViewTask(model))
    assert not any(tmp_path.iterdir()), "the checks render nothing"
