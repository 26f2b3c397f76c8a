"""Training examples for text-to-semantic: each utterance's phoneme symbols (server front end), their
durations from the flite alignment, and its semantic units; examples mimic serving: a voice prompt
from another utterance of the same speaker, then (sometimes) the previous words of the same utterance
as the stream's previous chunk, then the target words.

    cd models/training && /usr/bin/python3 -m sstrain.t2s.data --corpus ../../data/corpus --out ../../data/tokens
builds the alignment cache (data/tokens/align.pkl) once."""
from __future__ import annotations

import argparse
import json
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..text import SYMBOL_ID, align, encode

RATE = 25.0
SPACE = SYMBOL_ID[" "]


@dataclass
class Aligned:
    speaker_id: int
    symbols: np.ndarray      # int ids
    frames: np.ndarray       # int frames per symbol (cumulative rounding)
    cont: np.ndarray         # unrounded frames per symbol
    start: int               # first frame (25 Hz) of the symbols in the utterance's units


def build_alignments(corpus: Path, splits=("train", "valid", "test"), only: set[str] | None = None) -> dict[str, Aligned]:
    """Align every utterance of `splits` (or only those whose id is in `only`)."""
    ipa = {}
    for line in open(corpus / "phonemes.jsonl"):
        d = json.loads(line)
        ipa[d["text"]] = d["ipa"]
    out, t0, bad = {}, time.time(), 0
    for split in splits:
        for k, line in enumerate(open(corpus / f"{split}.jsonl")):
            u = json.loads(line)
            if only is not None and u["id"] not in only:
                continue
            syms = encode(ipa[u["text"]])
            frames, cont, start, end = align(syms, [tuple(p) for p in u["phones"]], RATE)
            if end <= start:
                bad += 1
                continue
            out[u["id"]] = Aligned(u["speaker_id"], np.array([SYMBOL_ID[s] for s in syms], dtype=np.int64),
                                   frames, cont.astype(np.float32), start)
            if (k + 1) % 2000 == 0:
                print(f"{split}: {k + 1} aligned ({time.time() - t0:.0f} s)", flush=True)
    print(f"aligned {len(out)} utterances, {bad} skipped", flush=True)
    return out


class _Unpickler(pickle.Unpickler):
    """The cache is written when this module runs as __main__; resolve its classes here either way."""

    def find_class(self, module, name):
        if name == "Aligned":
            return Aligned
        return super().find_class(module, name)


def load_alignments(path: Path) -> dict[str, Aligned]:
    with open(path, "rb") as f:
        return _Unpickler(f).load()


def read_units(path: Path) -> dict[str, np.ndarray]:
    """Units per utterance id, from an sstrain.tokens .npz or a `soundstorm prepare units` .jsonl (the
    server's tokenizer, for machines without Python onnxruntime)."""
    if path.suffix == ".npz":
        z = np.load(path)
        off = z["sem_offsets"]
        return {str(u): z["semantic"][off[i]:off[i + 1]].astype(np.int64) for i, u in enumerate(z["ids"])}
    out = {}
    for line in open(path):
        if line.strip():
            d = json.loads(line)
            out[d["id"]] = np.asarray(d["units"], dtype=np.int64)
    return out


class T2SData:
    """Samples serving-like examples from aligned utterances + their semantic units."""

    def __init__(self, units: Path | dict[str, np.ndarray], aligned: dict[str, Aligned], prompt_frames: int = 60,
                 max_target_frames: int = 120, context_phonemes: int = 48, min_target_frames: int = 0):
        """units: a units file (read_units) or units by utterance id."""
        self.items = []
        for uid, all_units in sorted((read_units(units) if isinstance(units, Path) else units).items()):
            a = aligned.get(uid)
            if a is None:
                continue
            need = int(a.frames.sum())
            units = all_units[a.start:a.start + need]
            if 0 < need - len(units) <= 4 and len(units):  # flite's last phone may end just past the audio
                units = np.concatenate([units, np.full(need - len(units), units[-1])])
            if len(units) < need:
                continue
            self.items.append((a, units))
        self.by_speaker: dict[int, list[int]] = {}
        for i, (a, _) in enumerate(self.items):
            self.by_speaker.setdefault(a.speaker_id, []).append(i)
        self.prompt_frames, self.max_target, self.ctx = prompt_frames, max_target_frames, context_phonemes
        self.min_target = min(min_target_frames or max_target_frames, max_target_frames)

    @staticmethod
    def _word_starts(a: Aligned) -> np.ndarray:
        return np.concatenate([[0], np.nonzero(a.symbols == SPACE)[0] + 1])

    def voice_prompt(self, rng, speaker: int, exclude: int):
        pool = self.by_speaker[speaker]
        j = pool[rng.integers(len(pool))]
        if j == exclude and len(pool) > 1:
            j = pool[(pool.index(j) + 1) % len(pool)]
        a, units = self.items[j]
        cum = np.cumsum(a.frames)
        ws = self._word_starts(a)
        # whole words from the start, about prompt_frames long (like a shipped 3 s voice prompt)
        cut = len(a.symbols)
        for w in ws[1:]:
            if cum[w - 1] >= self.prompt_frames:
                cut = w
                break
        return a.symbols[:cut], units[:int(cum[cut - 1])]

    def sample(self, rng: np.random.Generator):
        i = int(rng.integers(len(self.items)))
        a, units = self.items[i]
        vp_sym, vp_sem = self.voice_prompt(rng, a.speaker_id, i)
        ws = self._word_starts(a)
        cum = np.concatenate([[0], np.cumsum(a.frames)])
        k = int(ws[rng.integers(len(ws))]) if rng.random() < 0.6 else 0
        # target: whole words from k, at most `limit` frames (but at least one word)
        limit = self.max_target if self.min_target >= self.max_target else int(rng.integers(self.min_target, self.max_target + 1))
        end, prev_w = len(a.symbols), None
        for w in [int(x) for x in ws if x > k] + [len(a.symbols)]:
            if cum[w] - cum[k] > limit:
                end = prev_w if prev_w is not None else w
                break
            prev_w = w
        p0 = max(0, k - self.ctx)
        prev_sym, prev_sem = a.symbols[p0:k], units[cum[p0]:cum[k]]
        return {
            "prompt_phonemes": np.concatenate([vp_sym, prev_sym]),
            "prompt_semantic": np.concatenate([vp_sem, prev_sem]),
            "phonemes": a.symbols[k:end],
            "frames": a.frames[k:end],
            "cont": a.cont[k:end],
            "units": units[cum[k]:cum[end]],
        }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    al = build_alignments(Path(a.corpus))
    with open(out / "align.tmp.pkl", "wb") as f:
        pickle.dump(al, f)
    (out / "align.tmp.pkl").rename(out / "align.pkl")


if __name__ == "__main__":
    main()
