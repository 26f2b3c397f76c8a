"""Reference SoundStorm decoder (Python), the specification the TypeScript decoder
(src/pipeline/acoustic/maskgit.ts) must match token for token in greedy mode:

- levels coarse to fine; level q runs schedule[q] passes over the whole window;
- only still-masked cells of the current level in frames from `logits_from` on are ranked and
  committed; prompt and committed cells never change (a prompt cell is masked only where its level
  was never generated, and it stays so);
- `stop_before(q)`, asked before each level with cells to fill, ends decoding there when true
  (the server shedding its finer levels while behind): that level and the finer ones stay masked;
- after step i of S, floor(n cos(pi/2 (i+1)/S)) of the level's n masked cells stay masked
  (at least one is committed per step); the last step commits all, by argmax;
- greedy mode (temperature 0, no noise): token = argmax, confidence = its log-probability,
  most confident first, ties by frame order."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

Predict = Callable[[int, np.ndarray], np.ndarray]   # (level, tokens [T, Q]) -> logits [T, K]


def masked_after_step(n: int, i: int, s: int) -> int:
    return 0 if i >= s - 1 else int(math.floor(n * math.cos(math.pi / 2 * (i + 1) / s)))


def decode_greedy(tokens: np.ndarray, mask_id: int, schedule: list[int], predict: Predict, logits_from: int = 0,
                  stop_before: Callable[[int], bool] | None = None) -> tuple[np.ndarray, int]:
    """tokens [T, Q] with mask_id in the cells to generate -> (filled tokens, forward passes)."""
    tokens = tokens.copy()
    T, Q = tokens.shape
    passes = 0
    for q in range(Q):
        if schedule[q] == 0:
            continue
        open_ = [f for f in range(logits_from, T) if tokens[f, q] == mask_id]
        n = len(open_)
        if n and stop_before is not None and stop_before(q):
            break
        for i in range(schedule[q]):
            if not open_:
                break
            logits = predict(q, tokens).astype(np.float64)
            passes += 1
            last = i == schedule[q] - 1
            sub = logits[open_]
            best = sub.argmax(1)
            mx = sub.max(1, keepdims=True)
            conf = -np.log(np.exp(sub - mx).sum(1))
            keep = 0 if last else min(masked_after_step(n, i, schedule[q]), len(open_) - 1)
            order = sorted(range(len(open_)), key=lambda j: (-conf[j], open_[j]))
            commit = order[:len(open_) - keep]
            for j in commit:
                tokens[open_[j], q] = best[j]
            open_ = sorted(open_[j] for j in order[len(open_) - keep:])
    return tokens, passes
