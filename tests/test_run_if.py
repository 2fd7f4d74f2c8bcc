"""run_if: each unmet condition skips with its own reason; met conditions run."""

import pytest
import torch

from tests.helpers.run_if import run_if


def skip_reason(mark: pytest.MarkDecorator) -> str | None:
    condition, reason = mark.args[0], mark.kwargs["reason"]
    return reason if condition else None


def test_conditions_name_what_is_missing(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert skip_reason(run_if(min_gpus=1)) == "needs 1 CUDA GPU(s), found 0"
    assert skip_reason(run_if(min_torch="999.0")) == f"needs torch >= 999.0, found {torch.__version__}"
    assert skip_reason(run_if(min_gpus=2, min_torch="999.0")).startswith("needs 2 CUDA GPU(s), found 0; needs torch")
    monkeypatch.setattr("sys.platform", "win32")
    assert skip_reason(run_if(skip_windows=True)) == "does not run on Windows"


def test_met_conditions_run(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr("sys.platform", "linux")
    assert skip_reason(run_if(min_gpus=2, min_torch="2.0", skip_windows=True)) is None
    assert skip_reason(run_if()) is None
