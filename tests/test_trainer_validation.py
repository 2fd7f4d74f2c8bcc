"""Trainer, logger and callback values are checked like data and model values: a bad one stops the run before any
data is rendered or model built, with a message naming the key, and leaves only the failed run's record."""

import json

import pytest
from omegaconf import open_dict

from recon.engine import runner
from recon.engine.runner import train
from recon.engine.trainer_checks import validate_trainer
from recon.engine.validation import ConfigError
from tests.helpers.configs import TINY_DATA, TINY_MODEL

BAD = [
    (["trainer.max_epochs=abc"], r"trainer\.max_epochs: expected an integer >= -1, got 'abc'"),
    (["trainer.max_epochs=-3"], r"trainer\.max_epochs: expected an integer >= -1, got -3"),
    (["trainer.devices=0"], r"trainer\.devices: expected a positive integer, -1, 'auto'.*got 0"),
    (["trainer.devices=-5"], r"trainer\.devices: expected .* got -5"),
    (["trainer.precision=17"], r"trainer\.precision: expected one of .*'32-true'.* got 17"),
    (["trainer.accelerator=tpu-nonsense"], r"trainer\.accelerator: expected one of .*'cpu'.* got 'tpu-nonsense'"),
    (["trainer.check_val_every_n_epoch=0"], r"trainer\.check_val_every_n_epoch: expected an integer >= 1, got 0"),
    (["trainer.gradient_clip_val=-1.0"], r"trainer\.gradient_clip_val: expected a number >= 0 or null, got -1\.0"),
    (["trainer.max_time=3min"], r"trainer\.max_time: expected null, 'DD:HH:MM:SS'.* got '3min'"),
    (["+trainer.limit_val_batches=1.5"], r"trainer\.limit_val_batches: expected .* got 1\.5"),
    (["+trainer.accumulate_grad_batches=0"], r"trainer\.accumulate_grad_batches: expected an integer >= 1, got 0"),
    (["+trainer.max_epoch=3"], r"trainer\.max_epoch: not an argument of pytorch_lightning\.Trainer"),
    (["+trainer.strategy=warp_drive"], r"trainer\.strategy: expected .* got 'warp_drive'"),
    (["logger=csv", "+logger.csv.flush_every=5"], r"logger\.csv\.flush_every: not an argument of recon\.engine"),
    (
        ["callbacks=default", "+callbacks.model_checkpoint.every_n_epoch=2"],
        r"callbacks\.model_checkpoint\.every_n_epoch: not an argument of pytorch_lightning\.callbacks\.ModelCheckpoint",
    ),
    (
        ["callbacks=default", "callbacks.model_checkpoint.mode=smallest"],
        r"callbacks\.model_checkpoint: .*mode.* smallest",
    ),
    (
        ["callbacks=default", "callbacks.prediction_media.num_samples=-2"],
        r"callbacks\.prediction_media: ValueError: num_samples must be >= 0, got -2",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD, ids=[" ".join(o) for o, _ in BAD])
def test_a_bad_trainer_logger_or_callback_value_is_named_before_data_or_model(
    make_config, tmp_path, monkeypatch, overrides, message
):
    cfg = make_config(TINY_DATA + TINY_MODEL + overrides)
    fresh_cache = tmp_path / "fresh_cache"
    with open_dict(cfg):
        cfg.paths.cache_dir = str(fresh_cache)
    assert cfg.data.cache_dir == str(fresh_cache)
    built = []
    real_instantiate = runner.instantiate
    monkeypatch.setattr(
        runner, "instantiate", lambda node, *a, **k: built.append(node) or real_instantiate(node, *a, **k)
    )

    with pytest.raises(ConfigError, match=message):
        train(cfg)

    assert not any(node is cfg.data or node is cfg.model or node is cfg.task for node in built), "built data/model"
    assert not fresh_cache.exists(), "nothing rendered"
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} == {"error.txt", "summary.json"}  # what any failed validation leaves
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"].startswith("ConfigError: ")


def test_the_shipped_trainers_pass(make_config):
    for name in ("cpu", "ddp_cpu"):
        validate_trainer(make_config(TINY_DATA + [f"trainer={name}"]).trainer)


def test_a_gpu_trainer_without_a_gpu_is_refused_by_name(make_config, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"trainer\.accelerator = 'gpu' but this machine has no CUDA GPU"):
        validate_trainer(make_config(TINY_DATA + ["trainer=gpu", "trainer.precision=16-mixed"]).trainer)
