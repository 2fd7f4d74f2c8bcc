"""Every option of every config group composes, and what it configures instantiates."""

from pathlib import Path

import pytest
import pytorch_lightning as pl
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from recon.cli.main import CONFIG_DIR
from recon.engine.ddp import HydraJobDDPStrategy
from recon.engine.runner import instantiate_group
from recon.engine.validation import validate_components
from tests.helpers.configs import TINY_DATA, TINY_MULTI_VIEW_DATA, TINY_POSE_DATA, TINY_STEREO_DATA

# tiny data of each problem: a model option is instantiated with the data of the problem it declares
TINY_DATA_OF = {
    "single_view": TINY_DATA,
    "stereo": TINY_STEREO_DATA,
    "multi_view": TINY_MULTI_VIEW_DATA,
    "multi_modal": ["data=multi_modal", *TINY_DATA],
    "pose": TINY_POSE_DATA,
}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def test_every_group_has_options():
    for group in ("data", "model", "task", "trainer", "logger", "callbacks", "debug", "paths", "hydra"):
        assert options(group), group


@pytest.mark.parametrize("name", options("model"))
def test_model_options_instantiate_with_the_data_they_solve(make_config, name):
    problem = get_class(make_config([f"model={name}"]).model._target_).problem
    cfg = make_config([f"model={name}"] + TINY_DATA_OF[problem])
    model = instantiate(cfg.model)
    datamodule = instantiate(cfg.data)
    task = instantiate(cfg.task, model=model)
    assert model.problem == datamodule.problem == task.problem
    validate_components(datamodule, model, task)  # a forward pass and every loss term on a batch of the data's shapes


@pytest.mark.parametrize("name", options("data"))
def test_data_options_instantiate_without_rendering(make_config, name, tmp_path):
    cfg = make_config([f"data={name}"])
    if OmegaConf.is_missing(cfg.data, "root"):  # real-format data: any folder (its files are read at setup)
        cfg = make_config([f"data={name}", f"data.root={tmp_path}"])
    datamodule = instantiate(cfg.data)
    assert datamodule.problem == cfg.task._target_.split(".")[-2]
    assert not any(tmp_path.rglob("*.npz")), "instantiating a datamodule must not render"


@pytest.mark.parametrize("name", options("trainer"))
def test_trainer_options_instantiate(make_config, name):
    cfg = make_config([f"trainer={name}"])
    if cfg.trainer.accelerator == "gpu":
        # no GPU here: check the remaining arguments are valid Trainer arguments on the CPU
        cfg.trainer.accelerator, cfg.trainer.precision = "cpu", "32-true"
        cfg.trainer.devices = 2 if cfg.trainer.get("strategy") else 1
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert isinstance(trainer, pl.Trainer)
    if name.startswith("ddp"):
        assert isinstance(trainer.strategy, HydraJobDDPStrategy) and trainer.num_devices == 2


@pytest.mark.parametrize("name", options("logger"))
def test_logger_options_instantiate(make_config, name):
    loggers = instantiate_group(make_config([f"logger={name}"]).get("logger"))
    expected = {"none": 0, "many": 3}.get(name, 1)
    assert len(loggers) == expected


@pytest.mark.parametrize("name", options("callbacks"))
def test_callback_options_instantiate(make_config, name):
    callbacks = instantiate_group(make_config([f"callbacks={name}"]).get("callbacks"))
    assert all(isinstance(c, pl.Callback) for c in callbacks)
    assert len(callbacks) == {"none": 0, "default": 5}.get(name, 1)


@pytest.mark.parametrize("name", options("debug"))
def test_debug_options_compose(make_config, name):
    cfg = make_config([f"debug={name}"])
    assert cfg.trainer.deterministic is True
    instantiate(cfg.trainer, logger=False)


def test_eval_and_predict_configs_compose(make_config):
    assert make_config(["ckpt_path=x.ckpt"], config_name="eval").ckpt_path == "x.ckpt"
    assert make_config(["ckpt_path=x.ckpt", "inputs=[a.png]"], config_name="predict").inputs == ["a.png"]


@pytest.mark.parametrize("name", options("experiment"))
def test_every_experiment_composes_and_names_its_runs(make_config, name):
    cfg = make_config([f"experiment={name}", *(["init_from=x.ckpt"] if name == "stereo_adapt_motorcycle" else [])])
    assert cfg.task_name and cfg.run_name


def test_the_multi_modal_study_names_each_run_by_family_modalities_and_seed(make_config):
    cfg = make_config(["experiment=multi_modal_study", "model=mm_graph", "model.modalities=[image,depth]", "seed=2"])
    assert cfg.data._target_.endswith("MultiModalDataModule")
    assert OmegaConf.to_container(cfg, resolve=True)["run_name"] == "mm_graph_image+depth_seed2"
