"""Generate SoundStorm codes for corpus utterances, as the server would (their ground-truth semantic
units, a voice prompt from another utterance of the same speaker, the served schedule with sampling),
and store them beside the utterance ids: the Python twin of the server's sampling decoder, for
experiments on what SoundStorm actually produces. `sstrain.codec.train --pairs` fine-tunes the codec
decoder to turn such codes into the real audio they stand for (as TTS vocoders are fine-tuned on
predicted features); tried in session 4 it did not make SoundStorm's output more intelligible
(BENCHMARKS.md, Codec), so the shipped decoder is not trained that way.

    cd models/training && /usr/bin/python3 -m sstrain.soundstorm.generate --ckpt ../../runs/soundstorm-iso/last.ckpt \\
        --tokens ../../data/tokens --out ../../data/generated/train.npz --count 1500
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from .export import load_checkpoint
from .model import SoundStorm
from .train import Tokens


@torch.no_grad()
def sample_codes(model: SoundStorm, sem: torch.Tensor, grid: torch.Tensor, pad: torch.Tensor, prefix: torch.Tensor,
                 schedule: list[int], gen: torch.Generator, t_start: float = 1.0, t_end: float = 0.3,
                 noise_scale: float = 4.5) -> torch.Tensor:
    """MaskGIT decoding of every masked cell of grid [B,T,Q] (mask id = codebook), level by level, as
    src/pipeline/acoustic/maskgit.ts does: sample with a temperature annealed downwards, rank by the
    sample's log-probability under that tempered distribution plus annealed Gumbel noise (scale (1 - i/S))
    within the level's still-masked cells, keep
    floor(n cos(pi/2 (i+1)/S)) masked after step i, argmax on the last step."""
    mask_id = model.cfg.mask_id
    grid = grid.clone()
    B, T, Q = grid.shape
    for q in range(Q):
        S = schedule[q]
        n = (grid[:, :, q] == mask_id).sum(1)                                     # [B]
        for i in range(S):
            open_ = grid[:, :, q] == mask_id
            if not bool(open_.any()):
                break
            logits = model.logits_at(model.hidden(sem, grid, pad, prefix), torch.full((B,), q, dtype=torch.long))
            logp = torch.log_softmax(logits.float(), -1)
            if i == S - 1:
                tok = logp.argmax(-1)
                grid[:, :, q] = torch.where(open_, tok, grid[:, :, q])
                break
            temp = t_start + (t_end - t_start) * (i / (S - 1))
            if temp <= 0:                                                       # greedy, as maskgit.ts
                tok = logp.argmax(-1)
            else:
                # ranked, as maskgit.ts ranks them, by the log-probability under the distribution sampled from
                logp = torch.log_softmax(logits.float() / temp, -1)
                tok = torch.multinomial(logp.exp().view(-1, logp.shape[-1]), 1, generator=gen).view(B, T)
            u = torch.rand(B, T, generator=gen).clamp(1e-9, 1 - 1e-9)
            conf = logp.gather(-1, tok[..., None]).squeeze(-1) + noise_scale * (1 - i / S) * -torch.log(-torch.log(u))
            conf = conf.masked_fill(~open_, -math.inf)
            keep = torch.floor(n.float() * math.cos(math.pi / 2 * (i + 1) / S)).long()
            keep = torch.minimum(keep, open_.sum(1) - 1).clamp(min=0)
            commit = open_.sum(1) - keep                                               # cells to commit per row
            rank = conf.argsort(1, descending=True).argsort(1)                          # 0 = most confident
            take = open_ & (rank < commit[:, None])
            grid[:, :, q] = torch.where(take, tok, grid[:, :, q])
    return grid


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--split", default="train")
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--schedule", default="4,1,1,1,1,1,1,1")
    ap.add_argument("--prompt-frames", type=int, default=150)
    ap.add_argument("--max-frames", type=int, default=600, help="skip longer utterances (one window each)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    dev = torch.device("cuda" if (a.device == "auto" and torch.cuda.is_available()) else ("cpu" if a.device == "auto" else a.device))
    model, ck = load_checkpoint(a.ckpt)
    model = model.to(dev)
    c = model.cfg
    data = Tokens(Path(a.tokens) / f"{a.split}.npz")
    rng = np.random.default_rng(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    ok = [i for i in range(len(data.ids)) if 2 * (data.off[i + 1] - data.off[i]) <= a.max_frames]
    chosen = sorted(rng.choice(ok, size=min(a.count, len(ok)), replace=False).tolist())
    schedule = [int(x) for x in a.schedule.split(",")]
    ids, codes, offsets = [], [], [0]
    t0 = time.time()
    for s in range(0, len(chosen), a.batch):
        group = chosen[s:s + a.batch]
        rows = []
        for i in group:
            sem, _ = data.utt(i)
            pool = [j for j in data.by_speaker[data.speaker[i]] if j != i] or [i]
            ps, pa = data.utt(pool[int(rng.integers(len(pool)))])
            st = int(rng.integers(0, max(1, len(ps) - a.prompt_frames + 1)))
            ps, pa = ps[st:st + a.prompt_frames], pa[st:st + a.prompt_frames]
            rows.append((ps, pa, sem))
        L = max(len(r[0]) + len(r[2]) for r in rows)
        B = len(rows)
        semt = torch.zeros(B, L, dtype=torch.long)
        grid = torch.full((B, L, c.levels), c.mask_id, dtype=torch.long)
        pad = torch.ones(B, L, dtype=torch.bool)
        prefix = torch.zeros(B, dtype=torch.long)
        for b, (ps, pa, sem) in enumerate(rows):
            p, n = len(ps), len(sem)
            semt[b, :p + n] = torch.from_numpy(np.concatenate([ps, sem]))
            grid[b, :p] = torch.from_numpy(pa)
            pad[b, :p + n] = False
            prefix[b] = p
        # padded cells are not masked (nothing to decode there)
        grid[pad] = 0
        out = sample_codes(model, semt.to(dev), grid.to(dev), pad.to(dev), prefix.to(dev), schedule, gen).cpu()
        for b, (ps, _, sem) in enumerate(rows):
            p, n = len(ps), len(sem)
            ids.append(data.ids[group[b]])
            codes.append(out[b, p:p + n].numpy().astype(np.int16))
            offsets.append(offsets[-1] + n)
        done = s + len(group)
        if done % (a.batch * 10) == 0 or done == len(chosen):
            el = time.time() - t0
            print(f"{done}/{len(chosen)} utterances ({el:.0f} s, ~{el / done * (len(chosen) - done):.0f} s left)", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(a.out, ids=np.array(ids), codes=np.concatenate(codes), offsets=np.array(offsets),
             schedule=np.array(schedule), step=np.array(ck["step"]))
    print(f"wrote {len(ids)} utterances to {a.out}", flush=True)


if __name__ == "__main__":
    main()
