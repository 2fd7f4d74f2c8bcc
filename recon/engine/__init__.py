"""What runs a job: the runner and its helpers (validation, checkpoints, resume, DDP, precision, sweeps)."""
