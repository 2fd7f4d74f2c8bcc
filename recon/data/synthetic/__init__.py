"""Synthetic 3D scenes rendered on the CPU (open3d ray casting): recon's built-in data.

Use :func:`load_or_generate` with a :class:`SyntheticConfig` (one object, N views) or a
:class:`StereoSceneConfig` (cluttered scenes, rectified pairs); see :mod:`.generator` for the
arrays, :mod:`.scene` and :mod:`.stereo_scene` for the world/camera conventions (world z up,
OpenCV cameras).
"""

from .config import GENERATOR_VERSION, StereoSceneConfig, SyntheticConfig, config_hash
from .generator import generate_scene, generate_split, load_or_generate

__all__ = ["GENERATOR_VERSION", "StereoSceneConfig", "SyntheticConfig", "config_hash", "generate_scene",
           "generate_split", "load_or_generate"]
