"""``recon-predict``: run a trained checkpoint, or a model that needs no training, on user data.

:func:`predict` reads the model (``ckpt_path=<checkpoint>`` or ``model=<name>``), finds the problem it solves and
hands the request to that problem's predictor: single-view images (``inputs=[...]``,
:mod:`recon.predict.single_view`), a rectified stereo pair (``left=... right=...``, :mod:`recon.predict.stereo`) or a
calibrated image set (``data=multi_view_<format>``, :mod:`recon.predict.multi_view`) or an RGB-D frame
(``color=... depth=... depth_scale=... intrinsics=...``, :mod:`recon.predict.multi_modal`) or the relative poses of an
uncalibrated image list (``inputs=[...]`` with a pose model, :mod:`recon.predict.pose`). Each predictor checks
the whole request before it writes anything.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from recon.engine.checkpoint import inference_config, load_checkpoint
from recon.predict.common import model_problem
from recon.predict.multi_modal import predict_multi_modal
from recon.predict.multi_view import predict_multi_view
from recon.predict.pose import predict_pose
from recon.predict.single_view import predict_single_view
from recon.predict.stereo import predict_stereo


def model_source(cfg: DictConfig) -> tuple[dict | None, dict]:
    """The loaded checkpoint and its inference config for ``ckpt_path``, or ``(None, {"model": ...})`` for
    ``model=<name>``. Raises ``ValueError`` unless exactly one of them is given, or for a foreign checkpoint."""
    ckpt_path, model = cfg.get("ckpt_path") or None, cfg.get("model")
    if (ckpt_path is None) == (model is None):
        got = "both" if ckpt_path else "neither"
        raise ValueError(
            f"give exactly one of ckpt_path=<trained checkpoint> and model=<name> (a model without "
            f"training, e.g. model=sgbm), got {got}"
        )
    if model is not None:
        return None, {"model": OmegaConf.to_container(model, resolve=True)}
    checkpoint = load_checkpoint(ckpt_path)
    try:
        return checkpoint, inference_config(checkpoint)
    except ValueError as e:
        raise ValueError(f"{ckpt_path}: {e}") from None


def predict(cfg: DictConfig) -> list[dict] | dict:
    """Run ``cfg``'s model on its inputs and write the outputs into ``cfg.output_dir``.

    The problem is the model's (``problem`` of its class); without one, ``data`` makes a multi-view request and
    ``left``/``right`` a stereo one. Returns the predictor's results:
    :func:`~recon.predict.single_view.predict_single_view` (a list, one dict per image),
    :func:`~recon.predict.stereo.predict_stereo` or :func:`~recon.predict.multi_view.predict_multi_view` (a dict).
    Raises ``ValueError`` (checkpoint not a safe recon checkpoint or foreign ``_target_``, a request that does not
    fit the model) before any output is written.
    """
    checkpoint, config = model_source(cfg)
    problem = model_problem(config["model"])
    if problem == "pose":
        return predict_pose(cfg, checkpoint, config)
    if problem == "multi_modal" or cfg.get("color") is not None or cfg.get("depth") is not None:
        return predict_multi_modal(cfg, checkpoint, config)
    if problem == "multi_view" or cfg.get("data") is not None:
        return predict_multi_view(cfg, checkpoint, config)
    if problem == "stereo" or cfg.get("left") is not None or cfg.get("right") is not None:
        return predict_stereo(cfg, checkpoint, config)
    return predict_single_view(cfg, checkpoint, config)
