"""The optimiser and epoch-wise LR schedule every task builds from its ``optimizer`` / ``scheduler`` configs."""

from collections.abc import Callable

from torch import nn


def configure_optimization(model: nn.Module, optimizer_factory: Callable | None, scheduler_factory: Callable | None):
    """What ``LightningModule.configure_optimizers`` returns for partially instantiated torch classes."""
    if optimizer_factory is None:
        raise ValueError("task.optimizer is not set: training needs an optimizer config")
    optimizer = optimizer_factory(params=model.parameters())
    if scheduler_factory is None:
        return optimizer
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler_factory(optimizer=optimizer), "interval": "epoch"},
    }
