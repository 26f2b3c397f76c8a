"""A phonetic prior for text-to-semantic decoding: log P(symbol | unit), counted over aligned training audio.

The token graph picks each frame's semantic unit from its phoneme context. Serving adds
`weight x log P(frame's symbol | unit)` to those logits (manifest `text_to_semantic.unit_prior`), which
favours units that real audio of that symbol mostly produces: the units SoundStorm turns into that sound
most reliably. The table is counted, not trained: every frame of an aligned utterance (the server's own
phoneme symbols aligned to flite's phones, `sstrain.text.align`) with the unit the tokenizer gave it.

Units come from `sstrain.tokens` (`--units data/tokens/train.npz`) or, on a machine without Python
onnxruntime, from the server's tokenizer (`soundstorm prepare units ... --out units.jsonl`).

    cd models/training && /usr/bin/python3 -m sstrain.t2s.unit_prior --corpus ../../data/corpus \\
        --units ../../data/tokens/train.npz --vocab 512 --out ../../models/default/t2s_unit_prior.f32

Output: float32 little-endian, [symbols, vocab] row-major (symbols in `sstrain.text.SYMBOLS` order, the
manifest's `text.symbols`). Rows of symbols seen on fewer than --min-frames frames are all zero (no prior).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..text import SYMBOLS
from .data import build_alignments, read_units


def count(corpus: Path, units: dict[str, np.ndarray], vocab: int, split: str = "train") -> np.ndarray:
    """[symbols, vocab] frame counts over the utterances that have units."""
    aligned = build_alignments(corpus, (split,), only=set(units))
    counts = np.zeros((len(SYMBOLS), vocab), dtype=np.int64)
    short = 0
    for uid, a in aligned.items():
        un = units[uid]
        fs = np.repeat(a.symbols, a.frames)
        n = min(len(fs), len(un) - a.start)   # flite's last phone may end just past the audio
        if n <= 0:
            short += 1
            continue
        np.add.at(counts, (fs[:n], un[a.start:a.start + n]), 1)
    print(f"{len(aligned) - short} utterances, {int(counts.sum())} frames counted, {short} too short", flush=True)
    return counts


def log_prior(counts: np.ndarray, alpha: float, min_frames: int) -> np.ndarray:
    """log P(symbol | unit) with add-alpha smoothing over symbols; rows with too little data are zero."""
    col = counts.sum(0, keepdims=True)
    lp = np.log((counts + alpha) / (col + alpha * counts.shape[0]))
    lp[counts.sum(1) < min_frames] = 0.0
    return lp.astype(np.float32)


def write_prior(counts: np.ndarray, alpha: float, min_frames: int, out: str, rows: str, cols: str) -> None:
    """Smooth `counts` [rows, cols] into log P(row | col), report how pure and how covered, write float32."""
    lp = log_prior(counts, alpha, min_frames)
    purity = counts.max(0).sum() / max(1, counts.sum())
    print(f"{rows[:-1]} purity of {cols} {purity:.3f}; {int((counts.sum(1) >= min_frames).sum())} of {counts.shape[0]} "
          f"{rows} get a prior", flush=True)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    lp.astype("<f4").tofile(path)
    print(f"wrote {path} ({path.stat().st_size} bytes, [{lp.shape[0]}, {lp.shape[1]}] float32)", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--units", required=True, help="sstrain.tokens train.npz, or a `soundstorm prepare units` .jsonl")
    ap.add_argument("--vocab", type=int, default=512, help="semantic units (the manifest's semantic.vocab_size)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--alpha", type=float, default=0.1, help="add-alpha smoothing of the counts")
    ap.add_argument("--min-frames", type=int, default=50, help="symbols seen on fewer frames get no prior")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    units = read_units(Path(a.units))
    top = max((int(u.max()) for u in units.values() if len(u)), default=-1)
    if top >= a.vocab:
        raise SystemExit(f"unit {top} in {a.units} is out of range for --vocab {a.vocab}")
    write_prior(count(Path(a.corpus), units, a.vocab, a.split), a.alpha, a.min_frames, a.out, "symbols", "units")


if __name__ == "__main__":
    main()
