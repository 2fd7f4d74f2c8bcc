"""SceneFlow: FlyingThings3D / Monkaa / Driving trees, dense PFM ground truth, per-lens focal length."""

import re

import numpy as np
import pytest
from PIL import Image

from recon.data.formats.base import check_stereo_item
from recon.data.formats.pfm import write_pfm
from recon.data.formats.sceneflow import SceneFlowStereo

H, W = 4, 5
SEQUENCES = [
    "TRAIN/A/0000",
    "TRAIN/B/0003",
    "TEST/A/0001",
    "35mm_focallength/scene_forwards/fast",
    "15mm_focallength/scene_backwards/slow",
]


def make_tree(root, sequences=SEQUENCES, frames=("0006", "0007"), passes=("clean",), disparity=True):
    truth = {}
    rng = np.random.default_rng(0)
    for sequence in sequences:
        for frame in frames:
            for pass_ in passes:
                for side in ("left", "right"):
                    folder = root / f"frames_{pass_}pass" / sequence / side
                    folder.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(folder / f"{frame}.png")
            values = rng.uniform(0.5, 80, (H, W)).astype(np.float32)
            values[0, 0] = 0.0  # not > 0: invalid
            truth[f"{sequence}/{frame}"] = values
            if disparity:
                folder = root / "disparity" / sequence / "left"
                folder.mkdir(parents=True, exist_ok=True)
                write_pfm(folder / f"{frame}.pfm", values, little_endian=len(truth) % 2 == 0)
    return truth


def test_reads_all_sequences_with_dense_ground_truth(tmp_path):
    truth = make_tree(tmp_path)
    dataset = SceneFlowStereo(tmp_path)
    assert dataset.ids == sorted(truth)
    for i, frame_id in enumerate(dataset.ids):
        item = dataset[i]
        check_stereo_item(item)
        expected = truth[frame_id]
        np.testing.assert_array_equal(item["disparity"][0].numpy(), expected)
        assert item["valid"].sum() == H * W - 1 and item["nonoccluded"].equal(item["valid"])
        assert item["focal"] == (450.0 if frame_id.startswith("15mm") else 1050.0) and item["baseline"] == 1.0


def test_prefix_pass_and_no_ground_truth(tmp_path):
    make_tree(tmp_path, passes=("clean", "final"))
    assert SceneFlowStereo(tmp_path, prefix="TRAIN").ids == [
        "TRAIN/A/0000/0006",
        "TRAIN/A/0000/0007",
        "TRAIN/B/0003/0006",
        "TRAIN/B/0003/0007",
    ]
    assert SceneFlowStereo(tmp_path, pass_="final", prefix="TEST/A").ids == ["TEST/A/0001/0006", "TEST/A/0001/0007"]
    make_tree(tmp_path / "monkaa", sequences=["a_rain_of_stones_x2"], disparity=False)
    item = SceneFlowStereo(tmp_path / "monkaa")[0]
    check_stereo_item(item)
    assert not item["valid"].any()


def test_errors_name_the_files(tmp_path):
    with pytest.raises(ValueError, match="pass must be one of"):
        SceneFlowStereo(tmp_path, pass_="dirty")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "frames_cleanpass"))):
        SceneFlowStereo(tmp_path)
    make_tree(tmp_path, sequences=["TRAIN/A/0000"])
    with pytest.raises(FileNotFoundError, match="with prefix 'TEST'"):
        SceneFlowStereo(tmp_path, prefix="TEST")
    missing = tmp_path / "disparity" / "TRAIN/A/0000" / "left" / "0007.pfm"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        SceneFlowStereo(tmp_path)
    write_pfm(missing, np.ones((H, W, 3), np.float32))
    with pytest.raises(ValueError, match=re.escape(str(missing)) + ": expected a 1-channel"):
        SceneFlowStereo(tmp_path)[1]
    right = tmp_path / "frames_cleanpass" / "TRAIN/A/0000" / "right" / "0006.png"
    right.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(right))):
        SceneFlowStereo(tmp_path)
