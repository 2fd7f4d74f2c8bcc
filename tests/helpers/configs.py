"""Hydra configs as the CLI composes them, on tiny synthetic data: override lists, composition, per-run copies."""

import copy
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from recon.cli.main import CONFIG_DIR

TINY_DATA = [
    "data.synthetic.num_train=48",
    "data.synthetic.num_val=16",
    "data.synthetic.num_test=16",
    "data.synthetic.image_size=[32,32]",
    "data.synthetic.num_points=256",
    "data.batch_size=8",
    "data.render_workers=0",
]
TINY_MODEL = ["model.num_points=64", "model.widths=[8,16]", "model.feature_dim=32", "model.hidden_dim=64"]


def _selects_task(data_option: str) -> bool:
    path = Path(CONFIG_DIR) / "data" / f"{data_option}.yaml"
    defaults = (OmegaConf.load(path).get("defaults") if path.is_file() else None) or []
    return any(
        isinstance(entry, DictConfig) and any(str(key).startswith("/task") for key in entry) for entry in defaults
    )


# Tiny synthetic stereo pairs (focal and disparities scaled down with the image); stereo models take
# data.max_disparity. "+task=stereo" only while conf/data/stereo.yaml does not select its task yet.
TINY_STEREO_DATA = [
    "data=stereo",
    "data.synthetic.num_train=8",
    "data.synthetic.num_val=4",
    "data.synthetic.num_test=4",
    "data.synthetic.image_size=[32,64]",
    "data.synthetic.focal_px=40.0",
    "data.synthetic.disparity_range=[1.0,16.0]",
    "data.max_disparity=16",
    "data.synthetic.num_objects=[2,4]",
    "data.synthetic.num_points=64",
    "data.synthetic.supersample=1",
    "data.augment.crop_size=[32,48]",
    "data.batch_size=4",
    "data.render_workers=0",
] + ([] if _selects_task("stereo") else ["+task=stereo"])
TINY_GWC = ["model.feature_channels=16", "model.feature_blocks=1"]
# Tiny synthetic multi-view scenes (ring layout, 4 views of 32x48, 2 sources each).
TINY_MULTI_VIEW_DATA = [
    "data=multi_view",
    "data.synthetic.num_train=4",
    "data.synthetic.num_val=2",
    "data.synthetic.num_test=2",
    "data.synthetic.image_size=[32,48]",
    "data.synthetic.num_views=4",
    "data.num_source=2",
    "data.synthetic.num_points=64",
    "data.batch_size=2",
    "data.render_workers=0",
]

TINY_POSE_DATA = [
    "data=pose",
    "data.synthetic.num_train=6",
    "data.synthetic.num_val=2",
    "data.synthetic.num_test=2",
    "data.synthetic.image_size=[32,48]",
    "data.synthetic.num_views=6",
    "data.synthetic.num_points=128",
    "data.batch_size=8",
    "data.render_workers=0",
]


# Stands for the run directory in a composed config until for_run puts a real one in its place.
RUN_DIR = "__run_dir__"


def compose_with_cache(config_name: str, overrides: list[str], cache: Path) -> DictConfig:
    """Compose like the CLI does (Hydra's own node included), with the synthetic cache in ``cache`` and
    ``paths.log_dir`` left to :func:`for_run`. Training runs write no report.html unless the overrides ask for one
    (``report=true``; tests/viz/test_report*.py do): the page's 5 MB of plotly.js per run would slow the suite."""
    if config_name == "train" and not any(o.startswith("report=") for o in overrides):
        overrides = [*overrides, "report=false"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            config_name,
            overrides=overrides + [f"paths.cache_dir={cache}", f"paths.log_dir={RUN_DIR}"],
            return_hydra_config=True,
        )


def for_run(composed: DictConfig, run_dir: Path) -> DictConfig:
    """A copy of ``composed`` as if it had been composed with ``paths.log_dir={run_dir}``, with Hydra's runtime
    fields set (and registered) so ``${hydra:...}`` interpolations resolve."""
    cfg = copy.deepcopy(composed)
    with open_dict(cfg):
        cfg.paths.log_dir = str(run_dir)
        cfg.hydra.overrides.task = [line.replace(RUN_DIR, str(run_dir)) for line in cfg.hydra.overrides.task]
        cfg.hydra.job.override_dirname = cfg.hydra.job.override_dirname.replace(RUN_DIR, str(run_dir))
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


def compose_config(config_name: str, overrides: list[str], run_dir: Path, cache: Path) -> DictConfig:
    """Compose like the CLI does, for one run in ``run_dir``."""
    return for_run(compose_with_cache(config_name, overrides, cache), run_dir)
