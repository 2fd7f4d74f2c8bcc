"""The GPU check's report: ``pytest -m gpu tests/gpu`` on a machine with CUDA writes experiments/gpu/report.md (each
test's outcome and duration, the GPU, torch and CUDA versions, the precision ``trainer=gpu`` picks). Without CUDA
the committed report is left as it is, and the terminal says why."""

import datetime
import platform
import shlex
import sys

import pytest
import torch

from recon.engine.precision import gpu_precision
from recon.io import write_text_atomic
from tests.helpers.paths import ROOT

REPORT = ROOT / "experiments" / "gpu" / "report.md"
results: dict[str, dict] = {}  # test id -> outcome, duration, message


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = results.setdefault(report.nodeid, {"outcome": "passed", "duration": 0.0, "message": ""})
    entry["duration"] += report.duration
    if report.failed or report.skipped:
        entry["outcome"] = "failed" if report.failed else "skipped"
        if report.skipped and isinstance(report.longrepr, tuple):
            entry["message"] = report.longrepr[2]  # (file, line, reason)
        elif report.failed:
            entry["message"] = f"{report.when}: " + (report.longreprtext.strip().splitlines() or [""])[-1]


def why_no_report(config: pytest.Config) -> str | None:
    if (config.option.markexpr or "").strip() != "gpu":
        return "only `pytest -m gpu tests/gpu` writes it"
    if not torch.cuda.is_available():
        return "no CUDA device here (torch.cuda.is_available() is False), so there is nothing to report"
    if not results:
        return "no GPU test ran"
    return None


def gpu_lines() -> list[str]:
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- GPUs: {len(names)} x {', '.join(sorted(set(names)))}",
        f"- torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
        f"Python {platform.python_version()}",
        f"- precision of `trainer=gpu`: {gpu_precision()}",
        f"- command: `{shlex.join([sys.executable.rpartition('/')[2], '-m', 'pytest', *sys.argv[1:]])}`",
    ]


def report_text() -> str:
    counts = {o: sum(e["outcome"] == o for e in results.values()) for o in ("passed", "failed", "skipped")}
    rows = [
        f"| `{nodeid}` | {e['outcome']} | {e['duration']:.1f} | {e['message'].replace('|', '/')} |"
        for nodeid, e in sorted(results.items())
    ]
    return "\n".join(
        [
            "# GPU check",
            "",
            "Written by `pytest -m gpu tests/gpu` (tests/gpu/conftest.py); see README.md in this folder.",
            "",
            *gpu_lines(),
            f"- result: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped",
            "",
            "| test | outcome | seconds | reason / error |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    reason = why_no_report(config)
    if reason:
        terminalreporter.write_line(f"GPU report {REPORT.relative_to(ROOT)} not written: {reason}")
        return
    write_text_atomic(REPORT, report_text())
    terminalreporter.write_line(f"GPU report written to {REPORT}")
