"""Training throughput of recon's Lightning stack against a plain PyTorch loop, and data against model.

    .venv/bin/python experiments/benchmarks/throughput_benchmark.py --steps 15 --repeats 3

Everything is measured in ONE process with the torch defaults (threads untouched), alternating the
compared measurements so that load from other tenants of the machine hits both sides alike.

1. Runner vs plain loop. The recon side is the real stack, composed with Hydra from ``conf/train.yaml``
   (data=single_view, model=cnn_points, trainer=cpu, logger=csv, callbacks=default incl. RichProgressBar
   and ModelCheckpoint) and instantiated as :mod:`recon.engine.runner` does (``instantiate_group``,
   ``build_trainer``, ``ConfigInCheckpoint``, ``log_hyperparams``). Only ``trainer.limit_train_batches``,
   ``max_epochs`` and ``limit_val_batches=1`` are added, so that ``trainer.fit`` runs warm-up + ``--steps``
   training steps and validates on one batch per epoch (EarlyStopping and ModelCheckpoint need their
   metric) outside the timed intervals. The plain side is a copy of the same ``PointSetCNN`` weights, the
   task's optimizer config (AdamW), ``chamfer_loss`` and ``zero_grad/backward/step`` over
   ``datamodule.train_dataloader()``. A step's time is the interval between the ends of consecutive
   steps, so it includes fetching the batch and every per-step hook, logging and progress-bar update;
   intervals that open an epoch (iterator creation, validation, epoch-end callbacks) and the warm-up are
   left out. Every step is also split into its compute window (forward, loss, zero_grad, backward, AdamW
   step; for recon the optimizer's step pre-/post-hooks, which enclose Lightning's closure) and the time
   outside it, whose difference between recon and plain is the runner's per-step cost without the noise
   of the compute. Two protocols:

   - ``segments``: per repeat one ``trainer.fit`` and one plain run of the same length, order swapped
     every repeat (A B, B A, ...); samples/s = batch * steps / summed step time.
   - ``interleaved``: inside one ``trainer.fit`` a callback runs one plain step after every recon step
     (A B A B ... at step granularity); each recon step is the interval between consecutive callback calls
     minus the plain step run in between.

   Unless ``--no-profile``, one more fit runs under cProfile and its self time is grouped by package.

2. Data vs model: iterating ``train_dataloader()`` alone (default ``num_workers``) against the
   training step alone (forward + Chamfer loss + backward + AdamW step on one pre-loaded batch),
   alternating per repeat.

The progress bar is rendered as in a terminal (``TTY_COMPATIBLE=1``, ``TTY_INTERACTIVE=1``) unless
``--no-tty``, so a redirected run pays what a user at a terminal pays. Prints a markdown report and
writes it to ``results/throughput.md``.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import datetime
import os
import platform
import pstats
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results" / "throughput.md"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-train", type=int, default=4000, help="training scenes (default: the config's 4000)")
    p.add_argument("--steps", type=int, default=15, help="timed training steps per measurement")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before each measurement")
    p.add_argument("--repeats", type=int, default=3, help="alternating repeats of every measurement")
    p.add_argument("--data-batches", type=int, default=200, help="batches per data-throughput measurement")
    p.add_argument("--cache-dir", default=None, help="synthetic cache (default: the config's paths.cache_dir)")
    p.add_argument("--no-profile", action="store_true", help="skip the cProfile breakdown of one more fit")
    p.add_argument("--no-tty", action="store_true", help="let rich detect the terminal instead of forcing one")
    p.add_argument("--output", type=Path, default=RESULTS)
    return p.parse_args()


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None and not ARGS.no_tty:
    os.environ.setdefault("TTY_COMPATIBLE", "1")  # read by rich when the progress bar creates its console
    os.environ.setdefault("TTY_INTERACTIVE", "1")

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig, OmegaConf, open_dict  # noqa: E402

sys.path.insert(0, str(ROOT))
from recon.callbacks.config_in_checkpoint import ConfigInCheckpoint  # noqa: E402
from recon.cli.main import CONFIG_DIR  # noqa: E402
from recon.engine.runner import build_trainer, instantiate_group  # noqa: E402
from recon.geometry.pointcloud import chamfer_loss  # noqa: E402


def compose_train_config(overrides: list[str], run_dir: Path) -> DictConfig:
    """``conf/train.yaml`` as the CLI composes it, with hydra's runtime fields set for ``${hydra:...}``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides + [f"paths.log_dir={run_dir}"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


class PlainLoop:
    """The plain PyTorch training loop: ``model(image)``, ``chamfer_loss``, ``zero_grad/backward/step``.

    ``window`` holds the duration of the last forward + loss + zero_grad + backward + optimizer step.
    """

    def __init__(self, model: torch.nn.Module, optimizer_factory, loader, loss_kind: str):
        self.model, self.loader, self.loss_kind = model.train(), loader, loss_kind
        self.optimizer = optimizer_factory(params=model.parameters())
        self.iterator, self.window = None, 0.0

    def next_batch(self) -> tuple[dict[str, torch.Tensor], bool]:
        """The next batch and whether it opens an epoch."""
        if self.iterator is not None:
            try:
                return next(self.iterator), False
            except StopIteration:
                pass
        self.iterator = iter(self.loader)
        return next(self.iterator), True

    def train_step(self, batch: dict[str, torch.Tensor]) -> None:
        start = time.perf_counter()
        loss = chamfer_loss(self.model(batch["image"])["points"], batch["points"], kind=self.loss_kind)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.window = time.perf_counter() - start

    def step(self) -> bool:
        batch, first = self.next_batch()
        self.train_step(batch)
        return first

    def run(self, warmup: int, steps: int) -> list[tuple[float, float]]:
        """(step time end to end, its compute window) of ``steps`` steps after ``warmup``, leaving out the
        intervals that open an epoch."""
        for _ in range(warmup):
            self.step()
        times, last = [], time.perf_counter()
        while len(times) < steps:
            first = self.step()
            now = time.perf_counter()
            if not first:
                times.append((now - last, self.window))
            last = now
        return times


class StepTimer(pl.Callback):
    """Step times of a fit: intervals between consecutive ``on_train_batch_end`` calls after ``warmup``.

    ``recon`` holds (interval, compute window) per timed step; the window runs from the optimizer's step
    pre-hook to its post-hook, which in Lightning's automatic optimisation encloses the closure
    (training_step with its ``self.log`` calls, zero_grad, backward) and the AdamW update.
    With ``plain`` set, one plain-loop step runs after every recon step; ``plain`` then holds its
    (duration, window), taken out of the following recon interval, and ``pairs`` the two step times.
    """

    def __init__(self, warmup: int, plain: PlainLoop | None = None):
        self.warmup, self.plain = warmup, plain
        self.recon, self.plain_times, self.pairs, self.skipped = [], [], [], 0
        self.last, self.window_start, self.window = None, 0.0, 0.0
        self.handles = []

    def on_train_start(self, trainer, pl_module) -> None:
        for opt in trainer.optimizers:
            self.handles += [opt.register_step_pre_hook(self._pre), opt.register_step_post_hook(self._post)]

    def on_train_end(self, trainer, pl_module) -> None:
        for handle in self.handles:
            handle.remove()

    def _pre(self, *_) -> None:
        self.window_start = time.perf_counter()

    def _post(self, *_) -> None:
        self.window = time.perf_counter() - self.window_start

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        timed = self.last is not None and trainer.global_step > self.warmup
        recon = None
        if timed and batch_idx == 0:
            self.skipped += 1
        elif timed:
            recon = (now - self.last, self.window)
            self.recon.append(recon)
        if self.plain is not None:
            first = self.plain.step()
            done = time.perf_counter()
            if timed and not first:
                self.plain_times.append((done - now, self.plain.window))
                if recon is not None:
                    self.pairs.append((recon[0], done - now))
            now = done
        self.last = now


def fit_recon(cfg: DictConfig, task, datamodule, run_dir: Path, steps: int, timer: StepTimer) -> float:
    """One ``trainer.fit`` built exactly as the runner builds it (plus ``timer``); returns its wall time.

    Epochs are cut to at most ``steps`` batches and validate on one batch, so that EarlyStopping and
    ModelCheckpoint find their metric as in a real run; fit stops after whole epochs of at least ``steps``
    steps in all. Validation and epoch ends fall in the epoch-opening intervals that the timer leaves out.
    """
    per_epoch = min(steps, len(datamodule.datasets["train"]) // datamodule.batch_size)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)  # a fresh run dir: checkpoints and CSV of earlier fits stay apart
        cfg.trainer.limit_train_batches = per_epoch
        cfg.trainer.max_epochs = -(-steps // per_epoch)
        cfg.trainer.limit_val_batches = 1
    callbacks = instantiate_group(cfg.get("callbacks")) + [ConfigInCheckpoint(cfg), timer]
    loggers = instantiate_group(cfg.get("logger"))
    trainer = build_trainer(cfg, callbacks, loggers)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule)
    return time.perf_counter() - start


class ProfiledSteps(StepTimer):
    """cProfile (main thread) over the timed steps of a fit: from the end of step ``warmup`` to the last end."""

    def __init__(self, warmup: int, steps: int):
        super().__init__(warmup)
        self.steps, self.profile = steps, cProfile.Profile()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if trainer.global_step == self.warmup:
            self.profile.enable()
        elif trainer.global_step == self.warmup + self.steps:
            self.profile.disable()


PROFILE_GROUPS = (  # (label, test on the profiled function's file name and function name)
    (
        "Lightning (pytorch_lightning, lightning_fabric, lightning_utilities, torchmetrics)",
        lambda f, n: any(
            f"/{p}/" in f for p in ("pytorch_lightning", "lightning_fabric", "lightning_utilities", "torchmetrics")
        ),
    ),
    ("rich (progress bar, main thread)", lambda f, n: "/rich/" in f),
    ("recon code (task, model, chamfer, dataset; inline tensor operators included)", lambda f, n: "/recon/" in f),
    ("torch Python (nn.Module, optim, autograd wrappers)", lambda f, n: "/torch/" in f),
    (
        "waiting on scipy cKDTree worker threads (chamfer nearest neighbours)",
        lambda f, n: (f == "~" and "lock" in n) or "threading.py" in f,
    ),
    ("native calls (torch ops, backward, cKDTree build, numpy)", lambda f, n: f == "~"),
    ("other Python", lambda f, n: True),
)


def profile_groups(profile: cProfile.Profile) -> dict[str, float]:
    """Self time (seconds) of the profiled functions, summed per :data:`PROFILE_GROUPS` label."""
    out = dict.fromkeys(label for label, _ in PROFILE_GROUPS)
    out = {k: 0.0 for k in out}
    for (file, _, name), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():
        label = next(label for label, test in PROFILE_GROUPS if test(file, name))
        out[label] += tottime
    return out


def time_data(loader, batches: int) -> float:
    """Seconds to draw ``batches`` batches from fresh iterators of ``loader`` (epoch starts included)."""
    n, start = 0, time.perf_counter()
    while n < batches:
        for _ in loader:
            n += 1
            if n == batches:
                break
    return time.perf_counter() - start


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def quantile(xs, q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def profile_lines(profiled) -> list[str]:
    if profiled is None:
        return []
    groups, seconds, n = profiled
    lines = [
        f"cProfile of one more fit, main thread, {n} timed steps ({1e3 * seconds / n:.0f} ms/step under the "
        "profiler); self time per group:",
        "",
        "| group | ms/step | share |",
        "|---|---|---|",
    ]
    total = sum(groups.values())
    lines += [f"| {label} | {1e3 * t / n:.1f} | {100 * t / total:.1f}% |" for label, t in groups.items()]
    return lines + [""]


def run(args: argparse.Namespace, tmp: Path) -> str:
    warnings.filterwarnings(
        "ignore", message=".*(does not have many workers|smaller than the logging interval|LeafSpec).*"
    )
    overrides = [f"data.synthetic.num_train={args.num_train}"]
    if args.cache_dir:
        overrides.append(f"paths.cache_dir={args.cache_dir}")
    cfg = compose_train_config(overrides, tmp)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    t0 = time.perf_counter()
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    data_seconds = time.perf_counter() - t0
    model = instantiate(cfg.model)
    task = instantiate(cfg.task, model=model)
    B = datamodule.batch_size
    steps_per_epoch = len(datamodule.datasets["train"]) // B
    plain_factory = instantiate(cfg.task.optimizer)  # the task's own optimizer config (AdamW, lr, weight decay)

    def new_plain() -> PlainLoop:
        return PlainLoop(copy.deepcopy(model), plain_factory, datamodule.train_dataloader(), task.loss_kind)

    W, S, R = args.warmup, args.steps, args.repeats
    seg = {"recon": [], "plain": [], "ratio": [], "fit_wall": [], "skipped": 0}
    inter = {"ratio": [], "pairs": []}
    steps = {"recon": [], "plain": []}  # (interval, window) of every timed step, both protocols
    dvm = {"data_bps": [], "model_sps": [], "ratio": []}
    t_start = time.perf_counter()
    fit_id = 0

    def fit(timer: StepTimer) -> float:
        nonlocal fit_id
        fit_id += 1
        wall = fit_recon(cfg, task, datamodule, tmp / f"fit{fit_id}", W + S, timer)
        shutil.rmtree(tmp / f"fit{fit_id}", ignore_errors=True)
        return wall

    for r in range(R):
        forward = r % 2 == 0  # A B in even repeats, B A in odd ones
        # 1a. segments: a whole trainer.fit, then a plain run of the same length (or the other way round)
        res = {}
        for side in ("recon", "plain") if forward else ("plain", "recon"):
            if side == "recon":
                timer = StepTimer(W)
                seg["fit_wall"].append(fit(timer))
                res["recon"], seg["skipped"] = timer.recon, seg["skipped"] + timer.skipped
            else:
                res["plain"] = new_plain().run(W, S)
        for side in ("recon", "plain"):
            seg[side].append(B * len(res[side]) / sum(t for t, _ in res[side]))
            steps[side] += res[side]
        seg["ratio"].append(seg["recon"][-1] / seg["plain"][-1])

        # 1b. interleaved step by step inside one trainer.fit
        timer = StepTimer(W, plain=new_plain())
        fit(timer)
        steps["recon"] += timer.recon
        steps["plain"] += timer.plain_times
        inter["pairs"] += timer.pairs
        inter["ratio"].append(sum(p for _, p in timer.pairs) / sum(q for q, _ in timer.pairs))

        # 2. data vs model
        fixed = new_plain()
        batch, _ = fixed.next_batch()
        loader = datamodule.train_dataloader()
        out = {}
        for side in ("data", "model") if forward else ("model", "data"):
            if side == "data":
                out["data"] = args.data_batches / time_data(loader, args.data_batches)
            else:
                for _ in range(W):
                    fixed.train_step(batch)
                start = time.perf_counter()
                for _ in range(S):
                    fixed.train_step(batch)
                out["model"] = S / (time.perf_counter() - start)
        dvm["data_bps"].append(out["data"])
        dvm["model_sps"].append(out["model"])
        dvm["ratio"].append(out["data"] / out["model"])
        if os.environ.get("THROUGHPUT_DEBUG"):
            for name, xs in (
                ("seg recon", res["recon"]),
                ("seg plain", res["plain"]),
                ("inter recon", timer.recon),
                ("inter plain", timer.plain_times),
            ):
                print(f"DEBUG {name}:", " ".join(f"{1e3 * t:.0f}/{1e3 * (t - w):.1f}" for t, w in xs))
        print(
            f"repeat {r + 1}/{R}: recon/plain segments {seg['ratio'][-1]:.3f}, interleaved {inter['ratio'][-1]:.3f}; "
            f"data/model {dvm['ratio'][-1]:.0f}x  ({time.perf_counter() - t_start:.0f}s)",
            flush=True,
        )
    profiled = None
    if not args.no_profile:
        prof = ProfiledSteps(W, S)
        fit(prof)
        profiled = profile_groups(prof.profile), sum(t for t, _ in prof.recon), len(prof.recon)
    total = time.perf_counter() - t_start

    ok = lambda good: "PASS" if good else "FAIL"  # noqa: E731
    ms = lambda x: f"{1e3 * x:.1f}"  # noqa: E731
    pair_ratio = median([p / q for q, p in inter["pairs"]])
    step_med = {side: median([t for t, _ in steps[side]]) for side in steps}
    step_p25 = {side: quantile([t for t, _ in steps[side]], 0.25) for side in steps}
    window = {side: median([w for _, w in steps[side]]) for side in steps}
    outside = {side: median([t - w for t, w in steps[side]]) for side in steps}
    p25_ratio = step_p25["plain"] / step_p25["recon"]
    extra = outside["recon"] - outside["plain"]
    overhead_ratio = step_med["plain"] / (step_med["plain"] + extra)
    dvm_ratio = median(dvm["ratio"])
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    command = ".venv/bin/python " + shlex.join([os.path.relpath(__file__, ROOT)] + sys.argv[1:])
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    lines = [
        f"## Training throughput benchmark, {datetime.datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"`{command}`",
        "",
        f"machine: {platform.node()}, {cpu}, nproc={os.cpu_count()} (shared, noisy), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads, the default), pytorch-lightning {pl.__version__}, "
        f"Python {platform.python_version()}.",
        f"Config: conf/train.yaml defaults: data=single_view (num_train={args.num_train}, batch {B}, "
        f"num_workers={datamodule.num_workers}, {steps_per_epoch} steps/epoch), model=cnn_points ({n_params:.1f}M "
        f"params), task optimizer AdamW, trainer=cpu (32-true), logger=csv, callbacks=default "
        f"(ModelCheckpoint, EarlyStopping, RichProgressBar "
        f"{'rendering as in a terminal' if not args.no_tty else 'auto-detect'}, "
        f"LearningRateMonitor, PredictionMedia) + ConfigInCheckpoint; added: limit_train_batches/max_epochs for the "
        f"step count, limit_val_batches=1 (validation and epoch ends are not timed). {R} repeats x ({W} warm-up + "
        f"{S} timed steps) per protocol; data loaded in {data_seconds:.1f}s; measurements took {total:.0f}s.",
        "",
        "### 1. recon runner vs plain PyTorch loop (training samples/s, higher is better; target recon/plain >= 0.95)",
        "",
        "| protocol | recon samples/s | plain samples/s | recon / plain | target |",
        "|---|---|---|---|---|",
        f"| segments: whole fit vs plain run, order swapped per repeat; median of per-repeat values | "
        f"{median(seg['recon']):.1f} | {median(seg['plain']):.1f} | {median(seg['ratio']):.3f} | "
        f"{ok(median(seg['ratio']) >= 0.95)} |",
        f"| interleaved: recon step, plain step, ... in one fit; median of {len(inter['pairs'])} per-pair ratios | "
        f"{B / median([q for q, _ in inter['pairs']]):.1f} | {B / median([p for _, p in inter['pairs']]):.1f} | "
        f"{pair_ratio:.3f} | {ok(pair_ratio >= 0.95)} |",
        f"| both protocols pooled, 25th-percentile step (the steps least slowed by other tenants) | "
        f"{B / step_p25['recon']:.1f} | {B / step_p25['plain']:.1f} | {p25_ratio:.3f} | {ok(p25_ratio >= 0.95)} |",
        f"| overhead estimate: plain median step / (plain median step + recon's extra time outside the compute "
        f"window) | {B / (step_med['plain'] + extra):.1f} | {B / step_med['plain']:.1f} | {overhead_ratio:.3f} | "
        f"{ok(overhead_ratio >= 0.95)} |",
        "",
        f"- per-repeat recon/plain: segments {', '.join(f'{x:.3f}' for x in seg['ratio'])}; interleaved (summed "
        f"step times) {', '.join(f'{x:.3f}' for x in inter['ratio'])}",
        f"- noise: step times p10-p90 recon {ms(quantile([t for t, _ in steps['recon']], 0.1))}-"
        f"{ms(quantile([t for t, _ in steps['recon']], 0.9))} ms, "
        f"plain {ms(quantile([t for t, _ in steps['plain']], 0.1))}-"
        f"{ms(quantile([t for t, _ in steps['plain']], 0.9))} ms; load average at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores",
        "",
        "Where a step's time goes (medians over all timed steps of both protocols, ms):",
        "",
        "| | recon | plain |",
        "|---|---|---|",
        f"| step, end to end | {ms(step_med['recon'])} | {ms(step_med['plain'])} |",
        f"| step, 25th percentile (least disturbed by other tenants) | {ms(step_p25['recon'])} | "
        f"{ms(step_p25['plain'])} |",
        f"| compute window: forward + loss (+ recon's `self.log`) + zero_grad + backward + AdamW step | "
        f"{ms(window['recon'])} | {ms(window['plain'])} |",
        f"| outside the window: fetch + collate the batch, (recon) Lightning loop, hooks, callbacks, progress bar, "
        f"logger | {ms(outside['recon'])} | {ms(outside['plain'])} |",
        f"| **recon's extra time per step outside the window** | **{ms(extra)}** "
        f"({100 * extra / step_med['plain']:.1f}% of the plain step) | |",
        "",
        f"- whole `trainer.fit` of {W + S} steps (set-up, data reload, one validation batch, last.ckpt save "
        f"included): median {median(seg['fit_wall']):.1f}s; epoch-opening intervals left out: {seg['skipped']}",
        "",
        *profile_lines(profiled),
        "### 2. data vs model (default num_workers; target data >= 3x the model step)",
        "",
        "| measurement | per second | ms each |",
        "|---|---|---|",
        f"| `train_dataloader()` alone, batches of {B} (fresh iterators, epoch starts included) | "
        f"{median(dvm['data_bps']):.1f} batches/s | {1e3 / median(dvm['data_bps']):.2f} |",
        f"| training step alone (forward + loss + backward + AdamW step, one pre-loaded batch) | "
        f"{median(dvm['model_sps']):.2f} steps/s | {1e3 / median(dvm['model_sps']):.1f} |",
        f"| **data / model**, median of per-repeat ratios | **{dvm_ratio:.0f}x** | {ok(dvm_ratio >= 3)} |",
        "",
        f"- per-repeat data/model: {', '.join(f'{x:.0f}x' for x in dvm['ratio'])}",
        "",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> str:
    """Run everything in a temporary run dir (removed afterwards, also on errors); return the markdown report."""
    tmp = Path(tempfile.mkdtemp(prefix="recon-throughput-"))
    try:
        return run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    report = main(ARGS)
    print(report)
    ARGS.output.parent.mkdir(parents=True, exist_ok=True)
    ARGS.output.write_text(report)
    print(f"written to {ARGS.output}")
