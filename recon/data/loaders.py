"""The DataLoader every recon datamodule builds for a split."""

from torch.utils.data import DataLoader, Dataset


def split_loader(
    dataset: Dataset, batch_size: int, shuffle: bool, num_workers: int = 0, pin_memory: bool = False
) -> DataLoader:
    """Shuffled training loaders drop a last incomplete batch (when there is more than one batch); evaluation
    loaders keep every item in order. Workers persist across epochs."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        drop_last=shuffle and len(dataset) > batch_size,
    )
