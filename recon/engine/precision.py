"""Numeric precision per accelerator: bf16-mixed on GPUs that support it, 16-mixed on older GPUs, fp32 on CPU."""

import time

import torch

from recon.engine.validation import ConfigError

BF16 = ("bf16", "bf16-mixed", "bf16-true")
FP16 = ("16", "16-mixed", "16-true")
TOLERATED_SLOWDOWN = 4.0


def gpu_precision() -> str:
    """``${recon_gpu_precision:}``: ``bf16-mixed`` where the GPU has bf16 (Ampere or newer), else ``16-mixed``."""
    return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "16-mixed"


def bf16_slowdown(n: int = 128, repeats: int = 3) -> float:
    """How many times slower an ``n x n`` bf16 matmul is than fp32 on this CPU (best of ``repeats``)."""

    def best(dtype: torch.dtype) -> float:
        a = torch.randn(n, n).to(dtype)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ a
            times.append(time.perf_counter() - start)
        return min(times)

    return best(torch.bfloat16) / max(best(torch.float32), 1e-9)


def check_cpu_precision(accelerator: str, precision) -> None:
    """Refuse half precision on a CPU where it cannot help: fp16 always, bf16 when measured > 4x slower than fp32."""
    if str(accelerator) != "cpu":
        return
    precision = str(precision)
    if precision in FP16:
        raise ConfigError(f"trainer.precision={precision} needs a GPU; on CPU use trainer.precision=32-true")
    if precision in BF16:
        slowdown = bf16_slowdown()
        if slowdown > TOLERATED_SLOWDOWN:
            raise ConfigError(
                f"trainer.precision={precision}: bf16 matmul is {slowdown:.0f}x slower than fp32 on this "
                f"CPU (no native bf16); use trainer.precision=32-true"
            )
