"""Console entry points: recon-train, recon-eval, recon-predict (thin Hydra wrappers around the runner)."""
from pathlib import Path

import hydra
import rich
import rich.syntax
import rich.tree
from omegaconf import DictConfig, OmegaConf

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
FIRST = ("data", "model", "task", "trainer", "callbacks", "logger", "paths")


def show_config(cfg: DictConfig) -> None:
    """Print the resolved config as a rich tree and save it as config_resolved.yaml in the run dir."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    tree = rich.tree.Tree("config", style="dim")
    for key in [k for k in FIRST if k in resolved] + [k for k in resolved if k not in FIRST]:
        value = resolved[key]
        text = OmegaConf.to_yaml(value) if isinstance(value, (dict, list)) else str(value)
        tree.add(f"[bold]{key}").add(rich.syntax.Syntax(text, "yaml"))
    if cfg.get("print_config", True):
        rich.print(tree)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config_resolved.yaml").write_text(OmegaConf.to_yaml(resolved))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train(cfg: DictConfig) -> float | None:
    from recon.runner import train as run_train

    show_config(cfg)
    return run_train(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def evaluate(cfg: DictConfig) -> None:
    from recon.runner import evaluate as run_evaluate

    show_config(cfg)
    run_evaluate(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def predict(cfg: DictConfig) -> None:
    from recon.predict import predict as run_predict

    run_predict(cfg)
