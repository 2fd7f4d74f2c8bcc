"""Where the repository and the shared data beside it lie."""

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
MESH_DIR = SHARED / "data" / "meshes"
DINO = SHARED / "data" / "dinoSparseRing"
# README.txt of dinoSparseRing: the dino's tight bounding box
DINO_BOX = np.array([[-0.061897, -0.018874, -0.057845], [0.010897, 0.068227, 0.015495]])
