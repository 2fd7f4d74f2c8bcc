"""SLURM sweeps through Hydra's submitit launcher (``hydra/launcher=slurm``), and a preview of what it submits.

Print the sbatch script and parameters a sweep would submit, without a cluster::

    python -m recon.cli.slurm_preview model=cnn_points,cnn_fold trainer=ddp trainer.devices=4 \
        hydra.launcher.partition=gpu

Lightning runs one process per GPU: the launcher config asks SLURM for ``trainer.devices`` tasks per node and, on
GPU trainers, as many GPUs, so Lightning's SLURM environment finds its ranks (no subprocess launching).
"""

from unittest import mock

from omegaconf import DictConfig, OmegaConf

GPU_ACCELERATORS = ("gpu", "cuda")


def slurm_tasks(devices) -> int:
    """``${recon_slurm_tasks:${trainer.devices}}``: one SLURM task per device; devices must be a count here."""
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ValueError(
            f"trainer.devices={devices!r}: on SLURM give the number of devices per node "
            f"(e.g. trainer.devices=4), SLURM starts one task per device"
        )
    return devices


def slurm_gpus(accelerator: str, devices) -> int | None:
    """``${recon_slurm_gpus:${trainer.accelerator},${trainer.devices}}``: GPUs per node (none on CPU trainers)."""
    return slurm_tasks(devices) if str(accelerator) in GPU_ACCELERATORS else None


def submitit_executor(launcher: DictConfig):
    """The submitit executor the launcher would build, with the same parameter mapping as Hydra's plugin. Off a
    cluster (no ``srun``) submitit refuses to build one; for a preview its ``srun`` check is skipped."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    params = OmegaConf.to_container(launcher, resolve=True)
    params.pop("_target_", None)
    with mock.patch.object(submitit.SlurmExecutor, "affinity", return_value=1):
        executor = submitit.AutoExecutor(
            folder=params.pop("submitit_folder"), cluster="slurm", slurm_max_num_timeout=params.pop("max_num_timeout")
        )
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{key if key in shared else f"slurm_{key}": value for key, value in params.items()})
    return executor


def sbatch_script(launcher: DictConfig, num_jobs: int) -> str:
    """The sbatch file submitit writes for a sweep of ``num_jobs`` jobs (one SLURM array; ``%j``/``%A_%a`` are
    SLURM's job ids). Uses submitit's own script writer, so the text is what would be submitted."""
    slurm = submitit_executor(launcher)._executor
    slurm.parameters["map_count"] = num_jobs
    return slurm._make_submission_file_text(slurm._submitit_command_str, uid="preview")
