"""Precision per accelerator: half precision on CPU is refused where it cannot help, before anything is built."""

import types

import pytest
import torch

import recon.engine.precision
from recon.engine.precision import TOLERATED_SLOWDOWN, bf16_slowdown, check_cpu_precision, gpu_precision
from recon.engine.runner import train
from recon.engine.validation import ConfigError


def test_fp16_on_cpu_is_refused_before_anything_is_written(cfg_train, tmp_path):
    cfg_train.trainer.precision = "16-mixed"
    with pytest.raises(ConfigError, match="trainer.precision=16-mixed needs a GPU"):
        train(cfg_train)
    assert not list((tmp_path / "run").glob("checkpoints/*")) and not list(tmp_path.rglob("*.npz"))


def test_bf16_on_cpu_is_refused_only_where_it_is_measured_slow(monkeypatch):
    monkeypatch.setattr(recon.engine.precision, "bf16_slowdown", lambda: 600.0)
    with pytest.raises(ConfigError, match="bf16 matmul is 600x slower than fp32 on this CPU"):
        check_cpu_precision("cpu", "bf16-mixed")
    monkeypatch.setattr(recon.engine.precision, "bf16_slowdown", lambda: 0.5)
    check_cpu_precision("cpu", "bf16-mixed")  # a CPU with native bf16 may use it
    check_cpu_precision("gpu", "16-mixed")
    check_cpu_precision("cpu", "32-true")


def fake_matmul_seconds(monkeypatch, seconds: dict[torch.dtype, float]) -> None:
    """Make every matmul of ``bf16_slowdown`` take ``seconds[dtype]`` on the clock it reads."""
    clock = types.SimpleNamespace(now=0.0)
    matmul = torch.Tensor.__matmul__

    def timed_matmul(a, b):
        clock.now += seconds[a.dtype]
        return matmul(a, b)

    monkeypatch.setattr(torch.Tensor, "__matmul__", timed_matmul)
    monkeypatch.setattr(recon.engine.precision, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))


def test_bf16_slowdown_is_the_ratio_of_matmul_times(monkeypatch):
    fake_matmul_seconds(monkeypatch, {torch.bfloat16: 0.75, torch.float32: 0.25})
    assert bf16_slowdown(n=8, repeats=2) == pytest.approx(3.0)


@pytest.mark.parametrize("factor", [0.5, 0.9, 1.1, 150.0])
def test_bf16_is_refused_just_above_the_tolerated_slowdown(monkeypatch, factor):
    fake_matmul_seconds(monkeypatch, {torch.bfloat16: factor * TOLERATED_SLOWDOWN * 1e-3, torch.float32: 1e-3})
    if factor > 1:
        with pytest.raises(
            ConfigError, match=f"trainer.precision=bf16-mixed: bf16 matmul is {factor * TOLERATED_SLOWDOWN:.0f}x slower"
        ):
            check_cpu_precision("cpu", "bf16-mixed")
    else:
        check_cpu_precision("cpu", "bf16-mixed")


@pytest.mark.parametrize(
    "available, bf16, expected",
    [(True, True, "bf16-mixed"), (True, False, "16-mixed"), (False, False, "16-mixed")],
)
def test_gpu_precision_is_bf16_only_where_the_gpu_has_it(monkeypatch, available, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
    assert gpu_precision() == expected


def test_depth_cnn_lifts_points_in_fp32_under_mixed_precision():
    """Under autocast (as ``trainer=gpu`` runs it) the lifted points are fp32, like the ground truth they are scored
    against, and equal to the lifting of the network's depth in fp32."""
    from recon.geometry.cameras import unproject
    from recon.geometry.pointcloud import chamfer_loss
    from recon.models.depth_cnn import DepthCNN

    torch.manual_seed(0)
    model = DepthCNN(num_points=16, widths=(8, 16)).eval()
    image, K = torch.rand(2, 3, 16, 16), torch.tensor([[20.0, 0, 8], [0, 20.0, 8], [0, 0, 1]]).expand(2, 3, 3)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(image, K)
    assert out["points"].dtype == out["depth"].dtype == torch.float32
    front = unproject(out["depth"], K)  # fp32 outside autocast
    assert any(torch.equal(out["points"][0, 0], p) for p in front[0])
    assert torch.isfinite(chamfer_loss(out["points"], torch.rand(2, 32, 3)))
