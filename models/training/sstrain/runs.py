"""Run-directory helpers shared by the training scripts: atomic checkpoints and JSON-line progress logs."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

import torch


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
