"""``@run_if(...)``: skip a test, with the reason, where the machine lacks what it needs.

A GPU test carries both marks, so ``-m gpu`` selects it and a machine without a GPU skips it::

    @pytest.mark.gpu
    @run_if(min_gpus=1)
    def test_bf16_training_step(): ...
"""

import sys

import pytest
import torch


def run_if(*, min_gpus: int = 0, min_torch: str | None = None, skip_windows: bool = False) -> pytest.MarkDecorator:
    """A ``pytest.mark.skipif`` that skips unless there are ``min_gpus`` CUDA devices, torch is at least
    ``min_torch`` (e.g. ``"2.5"``), and (with ``skip_windows``) the platform is not Windows."""
    reasons = []
    gpus = torch.cuda.device_count()
    if gpus < min_gpus:
        reasons.append(f"needs {min_gpus} CUDA GPU(s), found {gpus}")
    if min_torch is not None and torch.__version__ < min_torch:
        reasons.append(f"needs torch >= {min_torch}, found {torch.__version__}")
    if skip_windows and sys.platform == "win32":
        reasons.append("does not run on Windows")
    return pytest.mark.skipif(bool(reasons), reason="; ".join(reasons))
