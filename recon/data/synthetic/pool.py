"""A process pool for rendering work that also starts inside a joblib (loky) worker process."""

import multiprocessing as mp
from contextlib import contextmanager

STANDARD_METHODS = ("spawn", "fork", "forkserver")


@contextmanager
def spawn_pool(workers: int):
    """``spawn`` pool (open3d/torch thread pools do not survive ``fork()``). Inside a joblib worker, as under
    ``hydra/launcher=parallel``, the process-wide start method is loky's, which spawned children cannot resolve
    ("cannot find context for 'loky'"), so it is set to ``spawn`` while the pool runs and restored after."""
    previous = mp.get_start_method(allow_none=True)
    foreign = previous is not None and previous not in STANDARD_METHODS
    if foreign:
        mp.set_start_method("spawn", force=True)
    try:
        with mp.get_context("spawn").Pool(workers) as pool:
            yield pool
    finally:
        if foreign:
            mp.set_start_method(previous, force=True)
