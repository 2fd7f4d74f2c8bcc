"""A camera set whose poses are estimated from its images (``data.poses=estimated``), the calibrated ones withheld.

:func:`~recon.geometry.structure_from_motion.incremental_sfm` runs on the selected views' images with their
intrinsics (the only calibration used). The registered views keep their image and intrinsics and get the estimated
``T_cw`` (up to a similarity: the scale is the reconstruction's, a median point depth of 1 in its first view) and a
depth range from the sparse points they see; views the reconstruction could not register are left out, and said so.
The file's poses are returned beside, for evaluation only (a Sim(3) alignment of the cameras after the fact).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from recon.data.formats.images import grey_uint8
from recon.data.formats.multiview_base import CameraSet
from recon.geometry.structure_from_motion import Reconstruction, incremental_sfm


def with_estimated_poses(cameras: CameraSet, picked: list[int]) -> tuple[CameraSet, np.ndarray | None, Reconstruction]:
    """The ``picked`` views of ``cameras`` with estimated poses and depth ranges (module docstring): the new set
    (registered views only, in ``picked``'s order), their withheld calibrated ``T_cw (n, 4, 4)`` (None for a set
    without poses, e.g. an image folder) and the reconstruction. Raises ``ValueError`` naming the set when fewer
    than two views register."""
    images = [grey_uint8(cameras.load_image(v)) for v in picked]  # at the files' size
    K = cameras.K[picked]
    try:
        reconstruction = incremental_sfm(images, K)
    except ValueError as e:
        raise ValueError(f"data.poses=estimated: {cameras.root}: {e}") from None
    for line in reconstruction.log:
        print(f"structure from motion: {line}")
    kept = np.flatnonzero(reconstruction.registered)
    if len(kept) < 2:
        raise ValueError(f"data.poses=estimated: only {len(kept)} of {len(picked)} views of {cameras.root} registered")
    left_out = [cameras[picked[k]].id for k in range(len(picked)) if not reconstruction.registered[k]]
    if left_out:
        warnings.warn(
            f"data.poses=estimated: {len(left_out)} of {len(picked)} views could not be registered and are left "
            f"out: {', '.join(left_out)}",
            stacklevel=2,
        )
    views = []
    for k in kept:
        view = cameras[picked[k]]
        size = images[k].shape
        views.append(replace(view, T_cw=reconstruction.T_cw[k], depth_range=reconstruction.depth_range(k, K[k], size)))
    withheld = cameras.T_cw[[picked[k] for k in kept]]
    withheld = withheld if np.isfinite(withheld).all() else None
    return CameraSet(cameras.root, tuple(views), None), withheld, reconstruction
