"""Average the weights of several SoundStorm checkpoints of one lineage (stochastic weight averaging).

The end points of successive warm-restart cycles lie in one basin; their mean often generalises a little
better than any of them. The result is a checkpoint without optimizer state, for `sstrain.soundstorm.export`.

    python -m sstrain.soundstorm.average --ckpt A.ckpt B.ckpt [C.ckpt] --out runs/avg/last.ckpt \
        [--weights 1,1,1] [--tokens data/tokens]

With --tokens it prints the validation cross-entropy of every input and of the average, on the crops
`sstrain.soundstorm.train` validates on, so a candidate can be screened before the slow WER evaluation.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..averaging import add_average_args, averaged_checkpoint, load_lineage, parse_weights, save_checkpoint
from .model import SoundStorm, SoundStormConfig
from .train import Tokens, make_batch, step_loss


def validation(model: SoundStorm, tokens: Path, c: SoundStormConfig) -> dict:
    """Level 1, 2 and last cross-entropy on train.py's validation crops (same seeds, 70 % masked)."""
    valid = Tokens(tokens / "valid.npz", bool(c.phone_vocab), 0.0)
    vb = make_batch(valid, np.random.default_rng(5), 8, 400, c, torch.device("cpu"), 1.0, 0.0, 1.0)
    rec = {}
    model.eval()
    with torch.no_grad():
        for q in (0, 1, c.levels - 1):
            loss, _ = step_loss(model, *vb[:4], None, np.random.default_rng(9), c, level=q, ratio=0.7)
            rec[f"ce_l{q + 1}"] = round(float(loss), 4)
    return rec


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_average_args(ap)
    ap.add_argument("--tokens", default=None, help="print validation cross-entropy of inputs and average")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    weights = parse_weights(a.weights, len(a.ckpt))
    cks = load_lineage(a.ckpt)
    c = SoundStormConfig(**cks[0]["config"])
    # the config as this code reads it (fields newer than the checkpoints filled with their defaults)
    avg = {**averaged_checkpoint(a.ckpt, cks, weights), "config": c.to_dict()}
    if a.tokens:
        for path, ck in zip(a.ckpt, cks):
            m = SoundStorm(c)
            m.load_state_dict(ck["model"])
            print(f"{path}: {validation(m, Path(a.tokens), c)}", flush=True)
    m = SoundStorm(c)
    m.load_state_dict(avg["model"])
    if a.tokens:
        print(f"average: {validation(m, Path(a.tokens), c)}", flush=True)
    save_checkpoint(avg, a.out)


if __name__ == "__main__":
    main()
