"""Run-directory helpers shared by the training scripts: atomic checkpoints and JSON-line progress logs."""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import IO

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


def minutes_since(t_start: float) -> float:
    return (time.time() - t_start) / 60


def time_share(a: argparse.Namespace, t_start: float) -> float:
    """Share of the --max-minutes budget used, with --anneal-by-time (else 0): schedules take the larger
    of this and their share of steps."""
    if not (a.anneal_by_time and a.max_minutes):
        return 0.0
    return min(1.0, minutes_since(t_start) / a.max_minutes)
