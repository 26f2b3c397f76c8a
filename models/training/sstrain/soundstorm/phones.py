"""Which text symbol each semantic frame belongs to, for SoundStorm conditioned on phones
(`SoundStormConfig.phone_vocab`): from the flite alignment of the server's own symbols
(`sstrain.t2s.data`, the same alignment and cumulative rounding text to semantic trains and serves
with), so a frame gets the symbol text to semantic would give it. Frames outside the aligned span
(leading and trailing silence) get 0, "none"; symbols are stored as id + 1.

    cd models/training && /usr/bin/python3 -m sstrain.soundstorm.phones --tokens ../../data/tokens

writes <split>_phones.npy beside each <split>.npz: int16, one per semantic frame, in the npz's order.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..t2s.data import Aligned, load_alignments


def frame_phones(a: Aligned | None, n: int) -> np.ndarray:
    """-> [n] symbol id + 1 per semantic frame (0 where no symbol was aligned)."""
    out = np.zeros(n, np.int16)
    if a is None:
        return out
    ph = np.repeat(a.symbols + 1, a.frames)[: max(0, n - a.start)]
    out[a.start:a.start + len(ph)] = ph
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", required=True, help="sstrain.tokens output (with align.pkl from sstrain.t2s.data)")
    ap.add_argument("--splits", default="train,valid")
    a = ap.parse_args(argv)
    tokens = Path(a.tokens)
    aligned = load_alignments(tokens / "align.pkl")
    for split in a.splits.split(","):
        z = np.load(tokens / f"{split}.npz")
        off, ids = z["sem_offsets"], [str(x) for x in z["ids"]]
        parts = [frame_phones(aligned.get(u), int(off[i + 1] - off[i])) for i, u in enumerate(ids)]
        ph = np.concatenate(parts)
        covered = sum(1 for u in ids if u in aligned)
        np.save(tokens / f"{split}_phones.npy", ph)
        print(f"{split}: {len(ids)} utterances ({covered} aligned), {float((ph > 0).mean()):.1%} of frames carry a symbol",
              flush=True)


if __name__ == "__main__":
    main()
