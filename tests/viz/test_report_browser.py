"""recon-report's pages in a real headless browser (Chromium, software WebGL, every network request refused): the
default run, a stereo run, a multi-view run and a study each render their 3D canvases with visible content and a
clean console; screenshots are kept in test-artifacts/report/. The harness itself is checked on a page that needs
the network and on an empty 3D scene. Slow: four tiny trainings and a browser start per page."""

import json
from pathlib import Path

import pytest

from recon.engine.runner import train
from recon.viz.report import write_report
from tests.helpers.browser import open_page
from tests.helpers.configs import (
    TINY_DATA,
    TINY_GWC,
    TINY_MODEL,
    TINY_MULTI_VIEW_DATA,
    TINY_STEREO_DATA,
    compose_config,
)

pytestmark = pytest.mark.slow

COMMON = ["logger=csv", "trainer.max_epochs=1", "print_config=false", "callbacks.prediction_media.num_samples=2"]
TINY_MVSNET = ["model=mvsnet", "model.num_depths=8", "model.feature_channels=8", "model.volume_channels=4"]
MIN_INK = 0.005  # share of a 3D canvas's pixels off its background; a drawn cloud gives 0.02-0.05 at 1400 px wide


@pytest.fixture(scope="module")
def pages(tmp_path_factory, cache_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pages")
    runs = {
        "default": TINY_DATA + TINY_MODEL + ["report=true"],
        "stereo": TINY_STEREO_DATA + ["model=gwc_stereo", *TINY_GWC, "report=true"],
        "multi_view": TINY_MULTI_VIEW_DATA + TINY_MVSNET + ["report=true"],
    }
    pages = {}
    for name, overrides in runs.items():
        train(compose_config("train", overrides + COMMON, root / name, cache_dir))
        assert json.loads((root / name / "summary.json").read_text())["report"] == "report.html"
        pages[name] = root / name / "report.html"
    study = root / "study"  # two families on the same data, laid out like a multirun
    for num, model in enumerate(["cnn_points", "cnn_fold"]):
        train(
            compose_config("train", TINY_DATA + [f"model={model}", *TINY_MODEL, *COMMON], study / str(num), cache_dir)
        )
    pages["study"] = write_report(study)
    return pages


@pytest.mark.parametrize("name", ["default", "stereo", "multi_view", "study"])
def test_page_renders_offline_in_a_real_browser(pages, name):
    check = open_page(pages[name], f"report/{name}")
    assert check.errors == [] and check.blocked == []
    assert check.canvas_ink and min(check.canvas_ink) > MIN_INK, check.canvas_ink
    assert check.screenshot.stat().st_size > 10_000


def test_study_page_shows_each_family_side_by_side(pages):
    text = pages["study"].read_text()
    assert "PointSetCNN" in text and "FoldingCNN" in text
    assert text.count("test 0: ground truth and prediction") == 2  # the same sample, once per family


def test_the_harness_fails_a_page_that_needs_the_network_or_draws_nothing(tmp_path):
    page = tmp_path / "online.html"
    page.write_text(
        "<!doctype html><html><head><script src='https://cdn.plot.ly/plotly-3.0.0.min.js'></script></head>"
        "<body><div id='p'></div><script>Plotly.newPlot('p', [])</script></body></html>"
    )
    check = open_page(page, "report/harness_online")
    assert check.blocked == ["https://cdn.plot.ly/plotly-3.0.0.min.js"]
    assert any("Plotly is not defined" in e for e in check.errors)

    import plotly.graph_objects as go
    import plotly.io as pio

    empty = tmp_path / "empty.html"
    empty.write_text(pio.to_html(go.Figure(go.Scatter3d(x=[], y=[], z=[])), include_plotlyjs=True))
    check = open_page(empty, "report/harness_empty")
    assert check.errors == [] and len(check.canvas_ink) == 1 and check.canvas_ink[0] < MIN_INK
