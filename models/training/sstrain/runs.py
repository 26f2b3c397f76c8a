"""Run-directory helpers shared by the training scripts: atomic checkpoints, JSON-line progress logs,
and run-seeded random number generators whose state travels in the checkpoint."""
from __future__ import annotations

import argparse
import json
import os
import time
import zlib
from pathlib import Path
from typing import IO

import numpy as np
import torch


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def start_run(threads: int, device: str, run: str) -> tuple[torch.device, Path]:
    """Common start of every training script: CPU threads (Debian's torch starts with one), device, run dir."""
    torch.set_num_threads(threads)
    path = Path(run)
    path.mkdir(parents=True, exist_ok=True)
    return pick_device(device), path


def save_checkpoint(state: dict, run: Path, name: str = "last.ckpt") -> None:
    """Write then rename, so a run killed mid-save keeps its previous checkpoint."""
    tmp = run / f"{name}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, run / name)


def emit(log: IO[str], rec: dict) -> None:
    """One progress record: to stdout (the run's .out file) and to log.jsonl."""
    line = json.dumps(rec)
    print(line, flush=True)
    log.write(line + "\n")
    log.flush()


def add_anneal_by_time(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--anneal-by-time", action="store_true",
                    help="the learning-rate cosine ends at --max-minutes if that comes before --steps (a GPU run whose "
                         "speed is not known in advance still ends annealed)")


def run_clock(resumed: dict | None) -> float:
    """The run's start time: a resumed run's checkpoint carries the minutes already spent ("minutes"), so
    --max-minutes and --anneal-by-time count the whole run, not just the latest process."""
    return time.time() - 60.0 * float((resumed or {}).get("minutes", 0.0))


def finished(resumed: dict | None, a: argparse.Namespace) -> bool:
    """True when the resumed checkpoint already spent its --steps or --max-minutes: rerunning a pipeline
    (train_all.sh) then leaves a finished run as it is instead of training it one more step."""
    if not resumed:
        return False
    step, minutes = int(resumed.get("step", 0)), float(resumed.get("minutes", 0.0))
    if step < a.steps and not (a.max_minutes and minutes >= a.max_minutes):
        return False
    print(f"{a.run}: finished at step {step} ({minutes:.1f} min); nothing to do", flush=True)
    return True


def minutes_since(t_start: float) -> float:
    return (time.time() - t_start) / 60


def time_share(a: argparse.Namespace, t_start: float) -> float:
    """Share of the --max-minutes budget used, with --anneal-by-time (else 0): schedules take the larger
    of this and their share of steps."""
    if not (a.anneal_by_time and a.max_minutes):
        return 0.0
    return min(1.0, minutes_since(t_start) / a.max_minutes)


def add_seed(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--seed", type=int, default=None,
                    help="random seed (default: from the run directory's path, so every new run, --init-from another"
                         " included, draws its own batches; the generators' states are saved in the checkpoint and"
                         " resumed)")


def seeded_rng(seed: int | None, run: Path, step: int) -> np.random.Generator:
    """The training loop's numpy generator, and the torch generators (CPU and every CUDA device: augmentation,
    dropout masks, codebook restarts), seeded by --seed or the run directory's path together with the step the
    run starts at. Not by the step alone: every --init-from cycle starts at the same step and replayed the
    same batches. A resumed run then puts back the saved states (restore_rng)."""
    base = seed if seed is not None else zlib.crc32(str(Path(run).resolve()).encode())
    ss = np.random.SeedSequence([base, step])
    torch.manual_seed(int(ss.spawn(1)[0].generate_state(1, np.uint64)[0]) >> 1)   # seeds CUDA too
    return np.random.default_rng(ss)


def rng_state(rng: np.random.Generator) -> dict:
    """Checkpoint entries for every generator in play: "rng" (numpy; the key SoundStorm's trainer uses),
    "torch_rng" and, on a CUDA machine, "cuda_rng" (one state per device)."""
    state = {"rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(ck: dict | None, rng: np.random.Generator) -> bool:
    """Put back the generators' states from a checkpoint made by rng_state (missing entries, as in
    checkpoints from before they were saved, leave the seeded state). -> whether the numpy state was there."""
    if not ck:
        return False
    if "torch_rng" in ck:
        torch.set_rng_state(ck["torch_rng"].cpu())
    if "cuda_rng" in ck and torch.cuda.is_available():
        states = ck["cuda_rng"][:torch.cuda.device_count()]
        for i, s in enumerate(states):
            torch.cuda.set_rng_state(s.cpu(), i)
    if "rng" in ck:
        rng.bit_generator.state = ck["rng"]
        return True
    return False
