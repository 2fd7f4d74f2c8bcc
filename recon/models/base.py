"""The model contract: what a task, the runner and the checks ask of a model.

Models are plain ``nn.Module`` s; they do not inherit from :class:`ModelContract`, they follow it, and
:func:`recon.engine.validation.validate_components` checks that they do before anything runs. Members beyond the
protocol's are optional and have defaults (:func:`is_trainable` reads ``trainable``).
"""

from typing import Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class ModelContract(Protocol):
    """A reconstruction model: ``problem`` and ``inputs`` declared as class attributes, and ``forward``.

    Optional members:

    - ``trainable`` (bool, default True): False for non-learned models (classical stereo, references); the runner
      then tests without fitting.
    - ``train_inputs`` (tuple of batch keys, default ``inputs``): what ``forward`` takes in training, when it needs
      more than at inference (a VAE's posterior needs the ground truth).
    - ``targets`` (tuple of batch keys, default ``()``): extra ground truth the loss needs, such as ``occupancy``.
    - ``max_disparity`` (float, pixels; stereo models): the largest disparity the model can predict; validation
      checks that it covers the data's ``max_disparity``.
    """

    problem: str
    """The problem the model solves (``single_view``, ``stereo``, ``multi_view``); the data's and the task's must
    be the same."""

    inputs: tuple[str, ...]
    """The batch keys ``forward`` takes, as keyword arguments of the same names."""

    def forward(self, *args: Tensor, **kwargs: Tensor) -> dict[str, Tensor]:
        """The predictions of a batch: ``model(**{key: batch[key] for key in model.inputs})`` -> a dict of outputs
        whose names select the task's losses and metrics (``points``, ``depth``, ``disparity``, ...)."""
        ...


def is_trainable(model) -> bool:
    """``model.trainable``; models that do not declare it are learned."""
    return getattr(model, "trainable", True) is not False
