"""The model zoo: `zoo:<name>` resolution and its errors, export of a training checkpoint into an entry that predict
and eval load by name, and every shipped entry scored again on its recorded real case."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from recon.cli.zoo import main as zoo_cli
from recon.engine import zoo
from recon.engine.checkpoint import load_checkpoint, restore_task
from recon.engine.runner import evaluate
from recon.predict import predict
from tests.helpers.single_view_checkpoint import save_checkpoint


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    """A zoo folder with one entry exported from a training-style checkpoint (with optimizer state)."""
    ckpt = save_checkpoint(tmp_path / "trained.ckpt")
    full = torch.load(ckpt, weights_only=True)
    full["optimizer_states"] = [{"state": {0: {"exp_avg": torch.zeros(1000)}}}]
    torch.save(full, ckpt)
    folder = tmp_path / "zoo"
    monkeypatch.setattr(zoo, "ZOO_DIR", folder)
    zoo.export(ckpt, "tiny_points")
    (folder / "tiny_points" / zoo.CHECK).write_text(
        "overrides: [data=single_view]\nmetric: test/chamfer_l1\nvalue: 0.5\ntolerance: 0.01\n"
    )
    return folder


def test_plain_paths_pass_through_and_unknown_names_list_the_entries(tiny_zoo, tmp_path):
    assert zoo.resolve(tmp_path / "a.ckpt") == tmp_path / "a.ckpt"
    assert zoo.resolve("zoo:tiny_points") == tiny_zoo / "tiny_points" / zoo.CHECKPOINT
    for bad in ("zoo:nope", "zoo:", "zoo:../tiny_points"):
        with pytest.raises(FileNotFoundError, match="available: zoo:tiny_points"):
            load_checkpoint(bad)


def test_export_keeps_weights_and_config_only(tiny_zoo, tmp_path):
    exported = torch.load(tiny_zoo / "tiny_points" / zoo.CHECKPOINT, weights_only=True)
    original = torch.load(tmp_path / "trained.ckpt", weights_only=True)
    assert set(exported) == {"recon", "state_dict"}
    assert exported["recon"] == original["recon"]
    for key, value in original["state_dict"].items():
        assert torch.equal(exported["state_dict"][key], value), key
    with pytest.raises(ValueError, match="plain folder names"):
        zoo.export(tmp_path / "trained.ckpt", "../elsewhere")
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(ValueError, match="not a recon checkpoint"):
        zoo.export(tmp_path / "foreign.ckpt", "foreign")


def test_a_half_precision_entry_loads_into_the_float32_model_with_rounded_weights(tiny_zoo, tmp_path):
    zoo.export(tmp_path / "trained.ckpt", "tiny_half", half=True)
    original = torch.load(tmp_path / "trained.ckpt", weights_only=True)["state_dict"]
    stored = torch.load(tiny_zoo / "tiny_half" / zoo.CHECKPOINT, weights_only=True)["state_dict"]
    assert {v.dtype for k, v in stored.items() if original[k].dtype == torch.float32} == {torch.float16}
    assert all(stored[k].dtype == v.dtype for k, v in original.items() if v.dtype != torch.float32)
    task = restore_task(load_checkpoint("zoo:tiny_half"))
    for key, value in task.state_dict().items():
        assert value.dtype == original[key].dtype, key
        torch.testing.assert_close(value, original[key].half().to(value.dtype) if value.is_floating_point() else value)
    assert (tiny_zoo / "tiny_half" / zoo.CHECKPOINT).stat().st_size < 0.7 * (
        tiny_zoo / "tiny_points" / zoo.CHECKPOINT
    ).stat().st_size


def test_predict_loads_an_entry_by_name(tiny_zoo, make_config, tmp_path):
    image = tmp_path / "grey.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(image)
    cfg = make_config(["ckpt_path=zoo:tiny_points", f"inputs=[{image}]"], config_name="predict", run_dir=tmp_path / "p")
    predict(cfg)
    assert (tmp_path / "p" / "grey.ply").is_file()


def test_cli_lists_entries_with_their_check(tiny_zoo, capsys):
    zoo_cli(["list"])
    assert "zoo:tiny_points" in capsys.readouterr().out
    (tiny_zoo / "tiny_points" / zoo.CHECK).write_text("metric: x\n")
    with pytest.raises(ValueError, match="needs the keys overrides, metric, value, tolerance"):
        zoo.load_check("tiny_points")


@pytest.mark.parametrize("name", zoo.names())
def test_every_shipped_entry_scores_what_its_card_records(name, make_config, tmp_path):
    folder = zoo.ZOO_DIR / name
    assert (folder / zoo.CARD).is_file(), f"{name} has no {zoo.CARD}"
    check = zoo.load_check(name)
    cfg = make_config([f"ckpt_path=zoo:{name}", *check["overrides"]], config_name="eval", run_dir=tmp_path / "eval")
    metrics = evaluate(cfg)
    assert math.isclose(metrics[check["metric"]], check["value"], abs_tol=check["tolerance"]), (
        f"zoo:{name}: {check['metric']} = {metrics[check['metric']]}, the card records {check['value']}"
    )
