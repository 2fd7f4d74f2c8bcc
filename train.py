"""Train and test a recon model: `python train.py [group=option ...] [key=value ...]` (same as `recon-train`)."""

from recon.cli.main import train

if __name__ == "__main__":
    train()
