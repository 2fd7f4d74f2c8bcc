"""Synthetic 3D scenes rendered on the CPU (open3d ray casting): recon's built-in data.

Use :func:`load_or_generate` with a :class:`SyntheticConfig` (one object, N views), a
:class:`StereoSceneConfig` (cluttered scenes, rectified pairs) or a :class:`MultiViewSceneConfig`
(scenes seen by many views); see :mod:`.generator` for the arrays, :mod:`.scene`,
:mod:`.stereo_scene` and :mod:`.multi_view_scene` for the world/camera conventions (world z up,
OpenCV cameras).
"""

from .config import GENERATOR_VERSION, MultiViewSceneConfig, StereoSceneConfig, SyntheticConfig, config_hash
from .generator import generate_scene, generate_split, generate_splits, load_or_generate, load_or_generate_splits

__all__ = [
    "GENERATOR_VERSION",
    "MultiViewSceneConfig",
    "StereoSceneConfig",
    "SyntheticConfig",
    "config_hash",
    "generate_scene",
    "generate_split",
    "generate_splits",
    "load_or_generate",
    "load_or_generate_splits",
]
