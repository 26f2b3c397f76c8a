"""Carry a SoundStorm or text-to-semantic checkpoint from one semantic tokenizer's units to another's, as a
starting point for training on the new units (`--init-from`), instead of starting over.

Both tokenizers are run on the same audio (the old one's units from `soundstorm prepare units`, the new
one's from `sstrain.tokens` or `prepare units --model` of a copy holding it); on the same frames this counts
P(old unit | new unit). Every parameter with a row per unit then becomes, for each new unit, the average of
the old units' rows under that distribution: SoundStorm's semantic embedding; text to semantic's prompt
unit embedding and its output layer (weights and bias). A new unit that sounds like an old one starts where
the old one was; one that splits an old unit starts from it too and training tells them apart.

    cd models/training && /usr/bin/python3 -m sstrain.remap_units --old OLD.jsonl --new ../../data/tokens-new/valid.npz \\
        --ckpt ../../runs/soundstorm-onnx/init.ckpt --out ../../runs/ss-remap.ckpt
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .runs import save_checkpoint
from .t2s.data import read_units

# parameters with one row per unit: checkpoint key -> state entries (SoundStorm keeps its weights under
# "model", text to semantic its token model under "tokens"; its duration model has no unit rows)
UNIT_ROWS = {
    "model": ["sem.weight"],
    "tokens": ["sem.weight", "out.weight", "out.bias"],
}


def old_given_new(old: dict[str, np.ndarray], new: dict[str, np.ndarray], n_old: int, n_new: int,
                  smoothing: float = 1e-3) -> tuple[np.ndarray, dict]:
    """-> P(old | new) [n_new, n_old] counted on the frames both tokenizers saw, and counts for the log."""
    c = np.zeros((n_new, n_old))
    used = 0
    for k, u_new in new.items():
        u_old = old.get(k)
        if u_old is None or len(u_old) != len(u_new):
            continue   # another utterance, or audio padded differently: frames would not line up
        np.add.at(c, (u_new, u_old), 1)
        used += 1
    if used == 0:
        raise SystemExit("no utterance has units from both tokenizers (same ids, same lengths)")
    p = (c + smoothing) / (c + smoothing).sum(1, keepdims=True)
    stats = {"utterances": used, "frames": int(c.sum()), "new_units_seen": int((c.sum(1) > 0).sum()),
             "mean_max_p_old_given_new": round(float(p.max(1).mean()), 4)}
    return p, stats


def remap_checkpoint(ck: dict, p: np.ndarray) -> list[str]:
    """Replace, in place, each unit-row parameter of checkpoint `ck` by P(old|new) @ rows; returns their names."""
    key = next((k for k in UNIT_ROWS if k in ck and UNIT_ROWS[k][0] in ck[k]), None)
    if key is None:
        raise SystemExit(f"not a SoundStorm or text-to-semantic checkpoint (looked for {list(UNIT_ROWS)})")
    state = ck[key]
    names = [n for n in UNIT_ROWS[key] if n in state]
    m = torch.from_numpy(p)
    for n in names:
        w = state[n]
        if w.shape[0] != p.shape[1]:
            raise SystemExit(f"{n} has {w.shape[0]} rows, the old tokenizer {p.shape[1]} units")
        state[n] = (m.to(torch.float64) @ w.to(torch.float64).reshape(w.shape[0], -1)).reshape(p.shape[0], *w.shape[1:]).to(w.dtype)
    return [f"{key}.{n}" for n in names]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="the old tokenizer's units: prepare units .jsonl or sstrain.tokens .npz")
    ap.add_argument("--new", required=True, help="the new tokenizer's units of the same utterances")
    ap.add_argument("--ckpt", required=True, help="a SoundStorm or text-to-semantic training checkpoint on the old units")
    ap.add_argument("--out", required=True)
    ap.add_argument("--units", type=int, default=512, help="units of each tokenizer")
    a = ap.parse_args(argv)
    p, stats = old_given_new(read_units(Path(a.old)), read_units(Path(a.new)), a.units, a.units)
    ck = torch.load(a.ckpt, map_location="cpu")
    names = remap_checkpoint(ck, p)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ck, out.parent, out.name)  # atomic: train_all.sh skips the step when the file exists
    print(json.dumps({**stats, "remapped": names, "out": a.out}))


if __name__ == "__main__":
    main()
