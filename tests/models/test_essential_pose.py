"""The classical relative-pose baseline: a real calibrated pair of the dino ring against its calibration, an exact
rotation (an image warped by K R K^-1), identical images, a featureless pair, and bad settings."""

import math

import cv2
import numpy as np
import pytest
import torch

from recon.data.formats.middlebury_mvs import read_middlebury_mvs
from recon.geometry.poses import rotation_error_deg, translation_error_deg
from recon.models.essential_pose import EssentialPose, two_view_pose
from tests.helpers.paths import DINO


@pytest.fixture(scope="module")
def dino_views():
    return read_middlebury_mvs(DINO).views


def grey(view) -> np.ndarray:
    return cv2.imread(str(view.image), cv2.IMREAD_GRAYSCALE)


def test_a_real_pair_matches_its_calibration(dino_views):
    a, b = dino_views[0], dino_views[15]  # 7.8 degrees apart on the ring
    result = two_view_pose(grey(a), grey(b), a.K, b.K)
    T = b.T_cw @ np.linalg.inv(a.T_cw)
    assert result["valid"] and result["translation_defined"] and result["inliers"] >= 15
    assert float(rotation_error_deg(torch.tensor(result["R"]), torch.tensor(T[:3, :3]))) < 2.0
    error = translation_error_deg(torch.tensor(result["t"]), torch.tensor(T[:3, 3]), sign_invariant=True)
    assert float(error) < 10.0


def rot_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def test_an_exact_rotation_is_found_with_translation_undefined(dino_views):
    view = dino_views[0]
    image = grey(view)
    K = np.array([[400.0, 0.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 1.0]])
    R = rot_y(4.0)
    warped = cv2.warpPerspective(image, K @ R @ np.linalg.inv(K), image.shape[::-1])  # x_1 = R x_0, no translation
    result = two_view_pose(image, warped, K, K)
    assert result["valid"] and not result["translation_defined"] and result["reason"] == "rotation only"
    assert float(rotation_error_deg(torch.tensor(result["R"]), torch.tensor(R))) < 0.2


def test_identical_images_give_identity_and_a_featureless_pair_fails(dino_views):
    view = dino_views[3]
    model = EssentialPose()
    image = torch.from_numpy(cv2.imread(str(view.image))[..., ::-1].copy()).permute(2, 0, 1).float() / 255
    K = torch.from_numpy(view.K).float().expand(2, 3, 3)
    blank = torch.full_like(image, 0.5)
    out = model(images=torch.stack([torch.stack([image, image]), torch.stack([blank, blank])]), K=torch.stack([K, K]))
    assert out["valid"].tolist() == [True, False]
    assert out["translation_defined"].tolist() == [False, False]
    torch.testing.assert_close(out["R"], torch.eye(3).expand(2, 3, 3))
    assert out["t"].abs().max() == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [({"ratio": 1.5}, "model.ratio"), ({"ransac_px": 0}, "model.ransac_px"), ({"min_inliers": 2}, "min_inliers")],
)
def test_bad_settings_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EssentialPose(**kwargs)
    with pytest.raises(ValueError, match="images must be"):
        EssentialPose()(images=torch.zeros(1, 3, 3, 8, 8), K=torch.eye(3).expand(1, 3, 3, 3))
