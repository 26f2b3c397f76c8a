"""Train the text-to-semantic duration and token models together. Resumable, logs JSON lines,
CPU (2 threads) or CUDA.

    cd models/training && /usr/bin/python3 -m sstrain.t2s.train --tokens ../../data/tokens --run ../../runs/t2s
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..runs import (add_anneal_by_time, add_seed, emit, finished, minutes_since, restore_rng, rng_state, run_clock, save_checkpoint,
                    seeded_rng, start_run, time_share)
from ..text import SYMBOLS
from .data import T2SData, load_alignments
from .model import DurationModel, T2SConfig, TokenModel


def collate(examples: list[dict], offset: float, dev):
    B = len(examples)
    P = max(len(e["prompt_phonemes"]) for e in examples)
    Fp = max(len(e["prompt_semantic"]) for e in examples)
    N = max(len(e["phonemes"]) for e in examples)
    T = max(len(e["units"]) for e in examples)
    pph = np.zeros((B, P), np.int64)
    psem = np.zeros((B, Fp), np.int64)
    ph = np.zeros((B, N), np.int64)
    logd = np.zeros((B, N), np.float32)
    fph = np.zeros((B, T), np.int64)
    fpos = np.zeros((B, T), np.float32)
    units = np.full((B, T), -100, np.int64)
    dmask = np.ones((B, P + N), bool)
    tmask = np.ones((B, Fp + T), bool)
    flen = np.zeros(B, np.float32)
    for b, e in enumerate(examples):
        p, f, n, t = len(e["prompt_phonemes"]), len(e["prompt_semantic"]), len(e["phonemes"]), len(e["units"])
        pph[b, P - p:] = e["prompt_phonemes"]          # prompts padded on the left
        psem[b, Fp - f:] = e["prompt_semantic"]
        ph[b, :n] = e["phonemes"]
        logd[b, :n] = np.log(e["cont"] + offset)
        dmask[b, P - p:P + n] = False
        tmask[b, Fp - f:Fp + t] = False
        flen[b] = f
        fph[b, :t] = np.repeat(e["phonemes"], e["frames"])
        fpos[b, :t] = np.concatenate([(np.arange(d) + 0.5) / d for d in e["frames"] if d > 0]) if t else []
        units[b, :t] = e["units"]
    t = lambda x: torch.from_numpy(x).to(dev)
    return dict(pph=t(pph), psem=t(psem), ph=t(ph), logd=t(logd), fph=t(fph), fpos=t(fpos), units=t(units),
                dmask=t(dmask), tmask=t(tmask), flen=t(flen), nmask=t(~dmask[:, P:]))


def losses(dur: DurationModel, tok: TokenModel, b: dict):
    pd = dur(b["ph"], b["pph"], b["psem"], pad_mask=b["dmask"], frames_len=b["flen"])
    l_dur = ((pd - b["logd"]).abs() * b["nmask"]).sum() / b["nmask"].sum()
    logits = tok(b["fph"], b["fpos"], b["pph"], b["psem"], pad_mask=b["tmask"])
    l_tok = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["units"].reshape(-1), ignore_index=-100)
    m = b["units"] >= 0
    acc = float(((logits.argmax(-1) == b["units"]) & m).sum() / m.sum())
    return l_dur, l_tok, acc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", required=True,
                    help="directory with align.pkl and each split's units: train.npz / valid.npz (sstrain.tokens) or "
                         "train.jsonl / valid.jsonl (`soundstorm prepare units`)")
    ap.add_argument("--run", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--valid-every", type=int, default=500)
    ap.add_argument("--max-minutes", type=float, default=0)
    add_anneal_by_time(ap)
    ap.add_argument("--max-target-frames", type=int, default=120,
                    help="longest target of an example (25 Hz frames); positions past it are never trained")
    ap.add_argument("--min-target-frames", type=int, default=0,
                    help="each example's target limit is drawn from [this, --max-target-frames] (0: always the max), "
                         "so long limits do not make every target run to its utterance's end")
    ap.add_argument("--init-from", default=None, help="start a new run (fresh optimizer and schedule) from this checkpoint's weights")
    add_seed(ap)
    a = ap.parse_args(argv)
    dev, run = start_run(a.threads, a.device, a.run)
    seeded_rng(a.seed, run, 0)   # a fresh model's initial weights follow --seed (or the run) too
    tokens = Path(a.tokens)
    aligned = load_alignments(tokens / "align.pkl")
    meta = tokens / "meta.json"
    units = int(json.loads(meta.read_text()).get("units", 512)) if meta.exists() else T2SConfig.units
    c = T2SConfig(symbols=len(SYMBOLS), units=units)
    dur, tok = DurationModel(c).to(dev), TokenModel(c).to(dev)
    params = list(dur.parameters()) + list(tok.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=1e-2)
    step, resumed = 0, None
    ck_path = run / "last.ckpt"
    if ck_path.exists():
        ck = torch.load(ck_path, map_location="cpu")
        if finished(ck, a):
            return
        dur.load_state_dict(ck["duration"])
        tok.load_state_dict(ck["tokens"])
        opt.load_state_dict(ck["opt"])
        step, resumed = ck["step"], ck
        print(f"resumed at step {step}", flush=True)
    elif a.init_from:
        ck = torch.load(a.init_from, map_location="cpu")
        dur.load_state_dict(ck["duration"])
        tok.load_state_dict(ck["tokens"])
        print(f"initialised from {a.init_from} (its step {ck['step']})", flush=True)
    def units_of(split: str) -> Path:
        npz = tokens / f"{split}.npz"
        return npz if npz.exists() else tokens / f"{split}.jsonl"

    train = T2SData(units_of("train"), aligned, max_target_frames=a.max_target_frames,
                    min_target_frames=a.min_target_frames)
    valid = T2SData(units_of("valid"), aligned, max_target_frames=a.max_target_frames,
                    min_target_frames=a.min_target_frames)
    print(f"{len(train.items)} train / {len(valid.items)} valid utterances", flush=True)
    # seeded by the run (the step alone replayed the same batches in every --init-from cycle); a resume puts
    # back the saved generators (checkpoints from before they were saved resume with the seeded ones)
    rng = seeded_rng(a.seed, run, step)
    restore_rng(resumed, rng)
    log = open(run / "log.jsonl", "a")
    agg, t0, t_start = {}, time.time(), run_clock(resumed)
    while step < a.steps:
        done = max(step / a.steps, time_share(a, t_start))
        lr = a.lr * min(1.0, (step + 1) / 300) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done)))
        for g in opt.param_groups:
            g["lr"] = lr
        dur.train(), tok.train()
        b = collate([train.sample(rng) for _ in range(a.batch)], c.duration_offset, dev)
        l_dur, l_tok, acc = losses(dur, tok, b)
        loss = l_dur + l_tok
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, 1.0)
        if torch.isfinite(gn):
            opt.step()
        step += 1
        for k, v in (("dur_l1", float(l_dur)), ("tok_ce", float(l_tok)), ("tok_acc", acc)):
            agg[k] = agg.get(k, 0.0) + v
        agg["n"] = agg.get("n", 0) + 1
        if step % a.log_every == 0 or step == a.steps:
            rec = {k: round(v / agg["n"], 4) for k, v in agg.items() if k != "n"}
            rec.update(step=step, lr=round(lr, 6), s_per_step=round((time.time() - t0) / agg["n"], 3))
            if step % a.valid_every == 0 or step == a.steps:
                dur.eval(), tok.eval()
                vr = np.random.default_rng(123)
                with torch.no_grad():
                    vals = [losses(dur, tok, collate([valid.sample(vr) for _ in range(a.batch)], c.duration_offset, dev))
                            for _ in range(8)]
                rec.update(valid_dur_l1=round(float(np.mean([float(v[0]) for v in vals])), 4),
                           valid_tok_ce=round(float(np.mean([float(v[1]) for v in vals])), 4),
                           valid_tok_acc=round(float(np.mean([v[2] for v in vals])), 4))
            emit(log, rec)
            agg, t0 = {}, time.time()
        over = a.max_minutes and minutes_since(t_start) >= a.max_minutes
        if step % 250 == 0 or step == a.steps or over:
            save_checkpoint({"duration": dur.state_dict(), "tokens": tok.state_dict(), "opt": opt.state_dict(),
                             "step": step, "minutes": minutes_since(t_start), "config": c.to_dict(), **rng_state(rng)}, run)
        if over:
            print(f"stopping after {a.max_minutes} minutes at step {step}", flush=True)
            break


if __name__ == "__main__":
    main()
