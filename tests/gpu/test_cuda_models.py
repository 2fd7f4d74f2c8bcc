"""Every model option of conf/model/ runs on CUDA under the precision ``trainer=gpu`` picks: learned models take a
training step (forward and loss under autocast, backward) with a finite loss and a finite gradient for every
parameter; non-learned ones predict finite values."""

from pathlib import Path

import pytest
import torch
from hydra.utils import get_class, instantiate

from recon.cli.main import CONFIG_DIR
from recon.engine.precision import gpu_precision
from recon.models.base import is_trainable
from tests.helpers.configs import TINY_DATA, TINY_MULTI_VIEW_DATA, TINY_STEREO_DATA
from tests.helpers.run_if import run_if

DEVICE = "cuda"
TINY_DATA_OF = {
    "single_view": TINY_DATA,
    "stereo": TINY_STEREO_DATA,
    "multi_view": TINY_MULTI_VIEW_DATA,
    "multi_modal": ["data=multi_modal", *TINY_DATA],
}
AUTOCAST_DTYPE = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}

pytestmark = [pytest.mark.gpu, run_if(min_gpus=1)]


def model_options() -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml"))


def build(make_config, name: str):
    """The model, task and an example batch (on ``DEVICE``) of the data of the problem model ``name`` solves."""
    problem = get_class(make_config([f"model={name}"]).model._target_).problem
    cfg = make_config([f"model={name}", "trainer=gpu"] + TINY_DATA_OF[problem])
    model = instantiate(cfg.model)
    task = instantiate(cfg.task, model=model).to(DEVICE)
    batch = {key: value.to(DEVICE) for key, value in instantiate(cfg.data).example_batch(2).items()}
    return cfg, model, task, batch


def finite(out: dict) -> dict[str, bool]:
    return {key: bool(torch.isfinite(value).all()) for key, value in out.items() if value.is_floating_point()}


@pytest.mark.parametrize("name", model_options())
def test_model_runs_on_cuda_under_the_gpu_trainer_precision(make_config, name):
    cfg, model, task, batch = build(make_config, name)
    assert cfg.trainer.precision == gpu_precision()  # the resolver, evaluated on this machine
    dtype = AUTOCAST_DTYPE[cfg.trainer.precision]
    if not is_trainable(model):
        if hasattr(model, "fit"):  # a reference fitted on training shapes: here the batch's
            model.fit(batch["points"], batch["center"])
        task.eval()
        with torch.no_grad(), torch.autocast(DEVICE, dtype=dtype):
            out = task(batch)
        assert out and all(value.device.type == DEVICE for value in out.values())
        assert all(finite(out).values()), finite(out)
        return
    task.train()
    # as Lightning's MixedPrecision plugin: forward and loss under autocast, backward outside it
    with torch.autocast(DEVICE, dtype=dtype):
        terms = task.losses(task(batch), batch)
    loss = terms["loss"]
    assert loss.device.type == DEVICE and torch.isfinite(loss), {k: float(v) for k, v in terms.items()}
    loss.backward()
    params = {n: p for n, p in task.named_parameters() if p.requires_grad}
    assert params
    no_grad = [n for n, p in params.items() if p.grad is None]
    assert not no_grad, f"parameters without a gradient (they would also break DDP): {no_grad}"
    not_finite = [n for n, p in params.items() if not bool(torch.isfinite(p.grad).all())]
    assert not not_finite, f"non-finite gradients: {not_finite}"
    assert any(bool(p.grad.abs().sum() > 0) for p in params.values()), "every gradient is zero"
