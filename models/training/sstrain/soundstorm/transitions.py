"""Level-1 code transitions: how much a frame's coarse codec code says about the next one.

SoundStorm predicts level 1 from the semantic units and the voice prompt and barely looks at the
codes already chosen (BENCHMARKS.md, "does SoundStorm use the codes it can see?"), although on real
speech the previous code carries about one nat about the next. This counts level-1 bigrams of real
codec codes over the corpus and writes them as pointwise mutual information,

    pmi(a, b) = log p(b | a) - log p(b),   p(b | a) = (C(a, b) + alpha p(b)) / (C(a) + alpha),

so the server can add `weight * pmi(prev, next)` to SoundStorm's log-probabilities when it commits
level 1 (a Viterbi pass over the window's top candidates; src/pipeline/acoustic/transitions.ts). PMI,
not log p(b | a): SoundStorm's own distribution already holds p(b | units), and only what the previous
code adds should be added to it.

Output: `<out>` (int8, row-major [codebook, codebook], value = round(pmi / scale), clipped) and
`<out>.json` (scale, alpha, frames counted, held-out entropies).

    cd models/training && /usr/bin/python3 -m sstrain.soundstorm.transitions --corpus ../../data/corpus \\
        --codec ../../runs/codec-onnx/init.ckpt --out ../../models/default/level1_transitions.bin
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..audio import PackedCorpus
from ..runs import pick_device
from ..tokens import load_codec


def level_codes(corpus: str, split: str, codec, level: int, max_utts: int, dev, log_every: int = 500):
    """Yield each utterance's codes of one level, [frames] int64 (a seeded subset when max_utts)."""
    data = PackedCorpus(corpus, split)
    order = np.arange(len(data.utts))
    if max_utts and max_utts < len(order):
        order = np.sort(np.random.default_rng(0).permutation(len(order))[:max_utts])
    t0 = time.time()
    for k, i in enumerate(order, 1):
        x = data.audio(data.utts[i])
        with torch.no_grad():
            c = codec.encode(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None].to(dev))[0]
        yield c[level].cpu().numpy().astype(np.int64)
        if k % log_every == 0 or k == len(order):
            el = time.time() - t0
            print(f"{split}: {k}/{len(order)} utterances ({el:.0f} s, ~{el / k * (len(order) - k):.0f} s left)",
                  flush=True)


def count_bigrams(seqs, k: int) -> np.ndarray:
    counts = np.zeros((k, k), dtype=np.float64)
    for s in seqs:
        if len(s) > 1:
            np.add.at(counts, (s[:-1], s[1:]), 1.0)
    return counts


def pmi_table(counts: np.ndarray, alpha: float) -> np.ndarray:
    unigram = (counts.sum(0) + 1.0) / (counts.sum() + counts.shape[0])   # p(b), add-one
    cond = (counts + alpha * unigram[None, :]) / (counts.sum(1, keepdims=True) + alpha)
    return np.log(cond) - np.log(unigram)[None, :]


def held_out_entropy(counts: np.ndarray, held: np.ndarray, alpha: float) -> tuple[float, float]:
    """(H(b), H(b | a)) in nats per frame on held-out bigram counts, under the smoothed training model."""
    unigram = (counts.sum(0) + 1.0) / (counts.sum() + counts.shape[0])
    cond = (counts + alpha * unigram[None, :]) / (counts.sum(1, keepdims=True) + alpha)
    n = held.sum()
    return float(-(held.sum(0) * np.log(unigram)).sum() / n), float(-(held * np.log(cond)).sum() / n)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--codec", required=True, help="codec training checkpoint (sstrain.codec.from_onnx rebuilds one)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--level", type=int, default=0, help="0-based RVQ level (0 = level 1)")
    ap.add_argument("--max-utts", type=int, default=0, help="training utterances to count (0 = all)")
    ap.add_argument("--valid-utts", type=int, default=400)
    ap.add_argument("--alpha", type=float, default=20.0, help="smoothing towards the unigram, in pseudo-counts")
    ap.add_argument("--scale", type=float, default=1 / 16, help="nats per int8 step")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    dev = pick_device(a.device)
    codec = load_codec(a.codec).to(dev)
    k = codec.cfg.codebook_size
    counts = count_bigrams(level_codes(a.corpus, "train", codec, a.level, a.max_utts, dev), k)
    held = count_bigrams(level_codes(a.corpus, "valid", codec, a.level, a.valid_utts, dev), k)
    h_uni, h_bi = held_out_entropy(counts, held, a.alpha)
    print(f"held-out level-{a.level + 1} entropy: unigram {h_uni:.3f} nats, given the previous code {h_bi:.3f}",
          flush=True)
    pmi = pmi_table(counts, a.alpha)
    q = np.clip(np.round(pmi / a.scale), -127, 127).astype(np.int8)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(q.tobytes())
    meta = {"level": a.level, "codebook": k, "scale": a.scale, "alpha": a.alpha, "dtype": "int8",
            "train_frames": int(counts.sum()), "valid_frames": int(held.sum()),
            "valid_entropy_unigram": round(h_uni, 4), "valid_entropy_given_previous": round(h_bi, 4),
            "codec": a.codec}
    Path(str(out) + ".json").write_text(json.dumps(meta, indent=1))
    print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()
