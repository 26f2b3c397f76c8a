"""A prior for SoundStorm's first RVQ level: log P(unit | level-1 code), counted on real tokens.

SoundStorm predicts level 1 from the semantic units and the voice prompt and hardly uses the codes
around a cell (BENCHMARKS.md, session 9); many codes it rates alike are rendered by the codec as
other sounds. Serving adds `weight x log P(frame's unit | code)` to the level-1 logits (manifest
`soundstorm.level1_prior`), which favours the codes that real audio of that unit mostly carries. Counted,
not trained: every codec frame of the tokenized utterances with the unit of its semantic frame.

    cd models/training && /usr/bin/python3 -m sstrain.soundstorm.level1_prior --tokens ../../data/tokens/train.npz \\
        --units 512 --codes 1024 --out ../../models/default/soundstorm_level1_prior.f32

--tokens: an sstrain.tokens .npz, or a `soundstorm prepare units --codes` .jsonl. Output: float32
little-endian, [units, codes] row-major; rows of units seen on fewer than --min-frames frames are zero.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..t2s.unit_prior import write_prior


def pairs(path: Path):
    """(units at the semantic rate, level-1 codes at the frame rate) per utterance."""
    if path.suffix == ".npz":
        z = np.load(path)
        off = z["sem_offsets"]
        for i in range(len(off) - 1):
            yield z["semantic"][off[i]:off[i + 1]].astype(np.int64), z["codes"][2 * off[i]:2 * off[i + 1], 0].astype(np.int64)
        return
    for line in open(path):
        if line.strip():
            d = json.loads(line)
            if "codes" not in d:
                raise SystemExit(f"{path}: no codes (make it with `soundstorm prepare units --codes`)")
            yield np.asarray(d["units"], dtype=np.int64), np.asarray(d["codes"][0], dtype=np.int64)


def count(path: Path, n_units: int, n_codes: int) -> np.ndarray:
    counts = np.zeros((n_units, n_codes), dtype=np.int64)
    k = 0
    for units, codes in pairs(path):
        repeat = len(codes) // max(1, len(units))   # codec frames per semantic frame (2)
        n = min(len(codes), repeat * len(units))
        if n == 0:
            continue
        np.add.at(counts, (units[np.arange(n) // repeat], codes[:n]), 1)
        k += 1
    print(f"{k} utterances, {int(counts.sum())} codec frames counted", flush=True)
    return counts


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", required=True, help="sstrain.tokens train.npz, or a `soundstorm prepare units --codes` .jsonl")
    ap.add_argument("--units", type=int, default=512, help="semantic units (semantic.vocab_size)")
    ap.add_argument("--codes", type=int, default=1024, help="codes per level (codec.codebook_size)")
    ap.add_argument("--alpha", type=float, default=0.1, help="add-alpha smoothing of the counts")
    ap.add_argument("--min-frames", type=int, default=50, help="units seen on fewer frames get no prior")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    write_prior(count(Path(a.tokens), a.units, a.codes), a.alpha, a.min_frames, a.out, "units", "level-1 codes")


if __name__ == "__main__":
    main()
