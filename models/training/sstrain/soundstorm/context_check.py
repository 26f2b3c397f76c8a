"""Does SoundStorm use the level-1 codes it can see? Level-1 cross-entropy on validation crops
(voice prompt isolated, as served) against the share of level-1 cells masked, next to count models
of how much the unit, the speaker and the previous frame's code tell about a level-1 code.

A model that uses its visible codes reads lower at low mask ratios; one that reads the same at every
ratio predicts from units and prompt alone, and extra level-1 iterations cannot help it.

    cd models/training && /usr/bin/python3 -m sstrain.soundstorm.context_check \\
        --ckpt ../../runs/soundstorm-tail8/last.ckpt --tokens ../../data/tokens
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from .export import load_checkpoint
from .train import Tokens, make_batch, step_loss


def count_model_ce(train: Tokens, valid: Tokens, context) -> float:
    """Validation CE (nats) of level-1 codes under counts of (context -> code) on the training tokens,
    interpolated with the unigram so unseen contexts still score."""
    table: dict = defaultdict(Counter)
    unigram: Counter = Counter()
    for i in range(len(train.ids)):
        s, a = train.utt(i)
        for t in range(1, len(s)):
            table[context(s, a, t, train.speaker[i])][a[t, 0]] += 1
            unigram[a[t, 0]] += 1
    n = sum(unigram.values())
    nll, count = 0.0, 0
    for i in range(len(valid.ids)):
        s, a = valid.utt(i)
        for t in range(1, len(s)):
            y = a[t, 0]
            p = (unigram[y] + 0.5) / (n + len(unigram))
            seen = table.get(context(s, a, t, valid.speaker[i]))
            if seen:
                total = sum(seen.values())
                lam = total / (total + 20)
                p = lam * seen[y] / total + (1 - lam) * p
            nll -= float(np.log(p))
            count += 1
    return nll / count


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--ratios", default="1.0,0.7,0.3,0.1,0.02")
    ap.add_argument("--batches", type=int, default=4, help="validation batches of 8 x 400 frames")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model, _ = load_checkpoint(a.ckpt)
    c = model.cfg
    train, valid = Tokens(Path(a.tokens) / "train.npz"), Tokens(Path(a.tokens) / "valid.npz")
    print(f"row norm: semantic embedding {model.sem.weight.norm(dim=1).mean():.2f}, "
          f"acoustic embeddings {model.ac.weight.norm(dim=1).mean():.2f}")
    batches = [make_batch(valid, np.random.default_rng(100 + k), 8, 400, c, "cpu", 1.0) for k in range(a.batches)]
    with torch.no_grad():
        for ratio in (float(r) for r in a.ratios.split(",")):
            ces = [float(step_loss(model, *b, np.random.default_rng(9), c, level=0, ratio=ratio)[0]) for b in batches]
            print(f"level 1, {ratio:.0%} masked: CE {np.mean(ces):.3f} nats", flush=True)
    for name, context in (("unit", lambda s, a, t, k: s[t]),
                          ("unit + speaker", lambda s, a, t, k: (s[t], k)),
                          ("unit + previous code", lambda s, a, t, k: (s[t], a[t - 1, 0]))):
        print(f"count model, level 1 given {name}: CE {count_model_ce(train, valid, context):.3f} nats", flush=True)


if __name__ == "__main__":
    main()
