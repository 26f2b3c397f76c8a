"""Train SoundStorm on (semantic units, codec codes) with the paper's masking scheme: a prompt boundary
t, a level q, a cosine mask ratio on level q after t, every finer level masked after t, and the loss
on the masked cells of level q only. Examples are single utterances or two utterances of the same
speaker back to back: the first is a voice prompt, isolated (it attends only to itself, see
SoundStorm.hidden), so serving computes a voice's states once and reuses them for every window.
Resumable (or --init-from another run's weights), logs JSON lines.

    cd models/training && /usr/bin/python3 -m sstrain.soundstorm.train --tokens ../../data/tokens --run ../../runs/soundstorm
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

from ..runs import (add_anneal_by_time, emit, finished, minutes_since, restore_rng, rng_state, run_clock, save_checkpoint,
                    seeded_rng, start_run, time_share)
from .model import SoundStorm, SoundStormConfig


class Tokens:
    def __init__(self, npz: Path, phones: bool = False, phone_balance: float = 0.0, unit_balance: float = 0.0):
        z = np.load(npz)
        self.ids = [str(x) for x in z["ids"]]
        self.sem, self.off = z["semantic"].astype(np.int64), z["sem_offsets"]
        self.codes = z["codes"].astype(np.int64)           # [sum 2*n, Q]
        # sstrain.soundstorm.gta: the units text to semantic gives each frame (real durations), if present
        self.gta = z["semantic_gta"].astype(np.int64) if "semantic_gta" in z.files else None
        # sstrain.soundstorm.phones: the text symbol (id + 1, 0 = none) of each semantic frame
        self.phones = np.load(npz.with_name(npz.stem + "_phones.npy")).astype(np.int64) if phones else None
        # per codec frame: run length^-phone_balance of the symbol run it lies in (loss weights, see run_weights)
        self.frame_w = run_weights(np.repeat(self.phones, 2), self.off * 2, phone_balance) if phone_balance else None
        if unit_balance:
            # per codec frame: (its unit's count in these frames)^-unit_balance, scaled to mean 1, so the rare units
            # the tokenizer reads off real audio (worse predicted than common ones) count for more
            w = np.bincount(self.sem).astype(np.float64)[self.sem] ** -unit_balance
            w = np.repeat((w / w.mean()).astype(np.float32), 2)
            self.frame_w = w if self.frame_w is None else self.frame_w * w
        self.speaker = [i.split("_", 1)[1] for i in self.ids]
        self.by_speaker: dict[str, list[int]] = {}
        for i, s in enumerate(self.speaker):
            self.by_speaker.setdefault(s, []).append(i)

    def utt(self, i: int, gta: bool = False, phone_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """-> semantic at the codec frame rate [2n] (the ground-truth-aligned units with `gta`; with
        phone_offset, each unit + phone_offset x its frame's symbol, as SoundStormConfig.phone_vocab
        models read them), codes [2n, Q]"""
        a, b = self.off[i], self.off[i + 1]
        sem = (self.gta if gta and self.gta is not None else self.sem)[a:b]
        if phone_offset:
            sem = sem + phone_offset * self.phones[a:b]
        return np.repeat(sem, 2), self.codes[2 * a:2 * b]

    def weights(self, i: int) -> np.ndarray:
        """-> loss weight of each codec frame of utterance i [2n] (ones without --phone-balance)."""
        a, b = 2 * self.off[i], 2 * self.off[i + 1]
        return self.frame_w[a:b] if self.frame_w is not None else np.ones(b - a, np.float32)


def run_weights(sym: np.ndarray, offsets: np.ndarray, power: float) -> np.ndarray:
    """Frame weights that give every phone about the same total weight whatever its length: each frame
    weighs (length of its symbol's run)^-power, normalised to mean 1 per utterance. Words are told apart
    by short consonants and transitions, while most frames are long vowels and pauses. sym: symbol per
    frame (0 = none), offsets: utterance boundaries into sym."""
    w = np.ones(len(sym), np.float32)
    for u in range(len(offsets) - 1):
        a, b = int(offsets[u]), int(offsets[u + 1])
        x = sym[a:b]
        if b - a == 0 or not x.any():
            continue
        starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
        lens = np.diff(np.r_[starts, len(x)])
        ww = np.repeat(lens.astype(np.float32) ** -power, lens)
        w[a:b] = ww / ww.mean()
    return w


@torch.no_grad()
def init_from_statistics(model: SoundStorm, data: Tokens) -> None:
    """Data-driven initialisation (like k-means for codebooks): the semantic embedding and every level's
    head start as a low-rank factorisation of log p(code_q | semantic unit) counted on the training
    tokens, so the model begins at the count model's loss instead of spending its first thousand CPU
    steps unlearning random logits. Acoustic embeddings start small."""
    c = model.cfg
    sem = np.repeat(data.sem, 2)
    k = c.dim

    def centred_log_table(q: int) -> np.ndarray:
        cnt = np.full((c.semantic_vocab, c.codebook), 0.5)
        np.add.at(cnt, (sem, data.codes[:, q]), 1)
        lp = np.log(cnt / cnt.sum(1, keepdims=True))
        return lp - lp.mean(1, keepdims=True)

    u, s, vt = np.linalg.svd(centred_log_table(0), full_matrices=False)
    a = u[:, :k] * np.sqrt(s[:k])
    scale = np.sqrt(k) / np.linalg.norm(a, axis=1).mean()   # rows about as long as LayerNorm outputs
    a = a * scale
    model.sem.weight[:c.semantic_vocab].copy_(torch.from_numpy(a).float())
    if c.semantic_null:
        model.sem.weight[c.semantic_vocab:] = model.sem.weight[:c.semantic_vocab].mean(0)
    pinv = np.linalg.pinv(a)
    for q in range(c.levels):
        model.heads_w[q].copy_(torch.from_numpy(pinv @ centred_log_table(q)).float())
    model.heads_b.zero_()
    model.ac.weight.normal_(0.0, 0.1)


def make_batch(data: Tokens, rng: np.random.Generator, B: int, L: int, c: SoundStormConfig, dev,
               prompt_prob: float = 0.5, gta_prob: float = 0.0, phone_prob: float = 0.0):
    sem = np.zeros((B, L), np.int64)
    ac = np.zeros((B, L, c.levels), np.int64)
    pad = np.ones((B, L), bool)
    fw = np.ones((B, L), np.float32)
    join = np.zeros(B, np.int64)
    for b in range(B):
        i = int(rng.integers(len(data.ids)))
        # the voice prompt below keeps real units (serving's prompts are read off audio); the target
        # takes the text-to-semantic model's units at this rate, as it does when served
        # phones only on the target utterance: a voice prompt is served without them (uploads have none)
        with_phones = c.phone_vocab and rng.random() < phone_prob
        s, a = data.utt(i, gta=bool(rng.random() < gta_prob), phone_offset=c.semantic_vocab if with_phones else 0)
        w = data.weights(i)
        if rng.random() < prompt_prob:  # another utterance of the same speaker first, as a voice prompt
            pool = data.by_speaker[data.speaker[i]]
            j = int(pool[int(rng.integers(len(pool)))])
            if j == i and len(pool) > 1:  # never the target itself: its own end would be a copy shortcut
                j = int(pool[int(rng.integers(len(pool)))])
            s0, a0 = data.utt(j)
            # the whole prompt (as served), and a target crop from anywhere in the utterance: cropping prompt and
            # target together kept every target's start but only ~half of the ends, which every chunk has
            k = min(int(rng.integers(50, 200)), L - 50)
            s0, a0 = s0[-k:], a0[-k:]
            room = L - len(s0)
            if len(s) > room:
                st = int(rng.integers(0, len(s) - room + 1))
                s, a, w = s[st:st + room], a[st:st + room], w[st:st + room]
            join[b] = len(s0)
            s, a, w = np.concatenate([s0, s]), np.concatenate([a0, a]), np.concatenate([np.ones(len(s0), np.float32), w])
        elif len(s) > L:
            st = int(rng.integers(0, len(s) - L + 1))
            s, a, w = s[st:st + L], a[st:st + L], w[st:st + L]
        n = len(s)
        sem[b, :n], ac[b, :n], pad[b, :n], fw[b, :n] = s, a, False, w
    t = lambda x: torch.from_numpy(x).to(dev)
    return t(sem), t(ac), t(pad), join, (t(fw) if data.frame_w is not None else None)


DEFAULT_LEVEL_WEIGHTS = (3.5, 1.8, 1.2)


def level_probs(Q: int, weights: tuple[float, ...] = DEFAULT_LEVEL_WEIGHTS) -> np.ndarray:
    """Which level an example trains. The paper samples uniformly; with a CPU's budget of steps we
    sample coarse levels more often (they carry most of the intelligibility, and fine levels given the
    coarse ones are easier), keeping every level in training. `weights` are the first levels' weights
    against 1 for each of the rest."""
    w = np.ones(Q)
    w[:len(weights)] = weights[:Q]
    return w / w.sum()


def mask_batch(ac: torch.Tensor, pad: torch.Tensor, join: np.ndarray, rng: np.random.Generator, c: SoundStormConfig,
               level: int | None = None, ratio: float | None = None,
               weights: tuple[float, ...] = DEFAULT_LEVEL_WEIGHTS):
    """The paper's scheme -> (masked acoustic input, level per example [B], loss mask [B,T],
    isolated voice-prompt length per example [B], end of the unmasked tail after it [B])."""
    B, L, Q = ac.shape
    lengths = (~pad).sum(1).cpu().numpy()
    inp = ac.clone()
    levels = np.zeros(B, np.int64)
    prefix = np.zeros(B, np.int64)
    tail_end = np.zeros(B, np.int64)
    target = torch.zeros(B, L, dtype=torch.bool, device=ac.device)
    for b in range(B):
        n = int(lengths[b])
        j = min(int(join[b]), n - 1)  # the prompt part may be longer than the crop
        # a voice prompt is never masked (serving never masks it); after it, the unmasked part is a tail
        t = j if (j and rng.random() < 0.5) else int(rng.integers(j, max(j + 1, n - 1)))
        q = int(rng.choice(Q, p=level_probs(Q, weights))) if level is None else level
        p = math.cos(rng.uniform(0, math.pi / 2)) if ratio is None else ratio
        m = torch.from_numpy(rng.random(n - t) < p).to(ac.device)
        if not bool(m.any()):
            m[int(rng.integers(n - t))] = True
        levels[b], prefix[b], tail_end[b] = q, j, t
        inp[b, t:n, q] = torch.where(m, torch.full_like(m, c.mask_id, dtype=torch.long), inp[b, t:n, q])
        inp[b, t:n, q + 1:] = c.mask_id
        target[b, t:n] = m
    dev = ac.device
    return inp, torch.from_numpy(levels).to(dev), target, torch.from_numpy(prefix).to(dev), torch.from_numpy(tail_end).to(dev)


def drop_semantic(sem: torch.Tensor, tail_end: torch.Tensor, rng: np.random.Generator, p: float, null_id: int) -> torch.Tensor:
    """Each row, with probability p, loses the units of the frames it generates (from its tail's end on: the
    voice prompt and the tail keep theirs, as they do in serving's unconditional pass) to the null id."""
    drop = torch.from_numpy(rng.random(sem.shape[0]) < p).to(sem.device)
    after = torch.arange(sem.shape[1], device=sem.device)[None, :] >= tail_end[:, None]
    return torch.where(drop[:, None] & after, torch.full_like(sem, null_id), sem)


def step_loss(model: SoundStorm, sem, ac, pad, join, fw, rng, c, level=None, ratio=None, weights=DEFAULT_LEVEL_WEIGHTS,
              semantic_drop: float = 0.0):
    """-> (cross-entropy on the masked cells, weighted by fw [B,L] when given, accuracy)"""
    inp, lv, target, prefix, tail_end = mask_batch(ac, pad, join, rng, c, level, ratio, weights)
    if semantic_drop:
        sem = drop_semantic(sem, tail_end, rng, semantic_drop, c.null_semantic_id)
    logits = model.logits_at(model.hidden(sem, inp, pad, prefix, model.isolated_tail_end(prefix, tail_end)), lv)
    gold = ac.gather(2, lv[:, None, None].expand(-1, ac.shape[1], 1)).squeeze(2)
    if fw is None:
        loss = F.cross_entropy(logits[target], gold[target])
    else:
        w = fw[target]
        loss = (F.cross_entropy(logits[target], gold[target], reduction="none") * w).sum() / w.sum().clamp(min=1e-6)
    acc = float((logits[target].argmax(-1) == gold[target]).float().mean())
    return loss, acc


def load_grown(model: SoundStorm, old: dict, n: int) -> None:
    """Load a trained state dict into a model n blocks deeper: the trained blocks move n places back
    and the n new blocks in front get their residual branches zeroed, so each only re-normalises the
    embedding sum (whose rows are already about LayerNorm length) and the grown model starts close to
    the trained one instead of from noise."""
    shifted = {}
    for k, v in old.items():
        if k.startswith("blocks."):
            i, rest = k[len("blocks."):].split(".", 1)
            k = f"blocks.{int(i) + n}.{rest}"
        shifted[k] = v
    missing, unexpected = model.load_state_dict(shifted, strict=False)
    new = tuple(f"blocks.{i}." for i in range(n))
    if unexpected or not all(k.startswith(new) for k in missing):
        raise RuntimeError(f"cannot grow this checkpoint: missing {missing}, unexpected {unexpected}")
    for block in model.blocks[:n]:
        block.zero_residual_branches()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--frames-per-batch", type=int, default=2400)
    ap.add_argument("--lengths", default="200,300,400,500,600,750",
                    help="crop lengths in codec frames (one per batch), voice prompt included; up to the served"
                         " window (the default model's max_window_frames, 750: prompt + tail + new frames)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--valid-every", type=int, default=250)
    ap.add_argument("--max-minutes", type=float, default=0)
    add_anneal_by_time(ap)
    ap.add_argument("--prompt-prob", type=float, default=0.5, help="share of examples led by a voice prompt")
    ap.add_argument("--gta-prob", type=float, default=0.0,
                    help="share of examples whose target frames take the ground-truth-aligned units of"
                         " sstrain.soundstorm.gta (the tokens need semantic_gta); validation takes them all")
    ap.add_argument("--phones", type=float, default=0.0,
                    help="share of examples whose frames carry their text symbol (sstrain.soundstorm.phones; the rest"
                         " carry none, so the model still serves voice prompts and bare units); with --init-from a model"
                         " without phones, their embedding is added, zeroed")
    ap.add_argument("--phone-lr-mult", type=float, default=1.0, help="learning rate of the phone embedding, x --lr")
    ap.add_argument("--phone-balance", type=float, default=0.0,
                    help="weigh each frame's loss by (length of its phone)^-P, so short consonants count as much as long"
                         " vowels and pauses (needs sstrain.soundstorm.phones; 0 = every frame alike)")
    ap.add_argument("--unit-balance", type=float, default=0.0,
                    help="weigh each frame's loss by (its semantic unit's frequency)^-U, renormalised to mean 1"
                         " (0 = every frame alike)")
    ap.add_argument("--level-weights", default=",".join(map(str, DEFAULT_LEVEL_WEIGHTS)),
                    help="sampling weights of the first levels (the rest weigh 1 each)")
    ap.add_argument("--init-from", default=None, help="start a new run from this checkpoint's weights (not its optimizer)")
    ap.add_argument("--seed", type=int, default=None,
                    help="batch sampling seed (default: from the run directory's path, so a new run, --init-from"
                         " another included, draws new batches; the generator's state is saved and resumed)")
    ap.add_argument("--acoustic-gain", type=float, default=1.0,
                    help="with --init-from: multiply the acoustic embeddings by this (they start 10x smaller than the"
                         " semantic one and stay there; x4 for 1,800 steps gave no WER gain, BENCHMARKS.md)")
    ap.add_argument("--grow-layers", type=int, default=0,
                    help="with --init-from: put N new Conformer blocks in front of the trained ones, their residual"
                         " branches zeroed so the grown model starts as the trained one (more capacity without"
                         " starting over)")
    ap.add_argument("--isolate-tail", action="store_true",
                    help="train the tail to attend only to the prompt and itself (also when starting --init-from a model"
                         " without); --tail-overlap N keeps its last N frames with the new ones")
    ap.add_argument("--semantic-drop", type=float, default=0.0,
                    help="share of examples whose generated frames lose their units (the null id; adds it to a model"
                         " without one, as the mean unit embedding), so serving can guide by the units")
    for k, v in SoundStormConfig().to_dict().items():
        ap.add_argument(f"--{k.replace('_', '-')}", type=type(v), default=None)
    a = ap.parse_args(argv)
    dev, run = start_run(a.threads, a.device, a.run)
    tokens = Path(a.tokens)
    meta = json.loads((tokens / "meta.json").read_text())
    ck_path = run / "last.ckpt"
    ck = torch.load(ck_path, map_location="cpu") if ck_path.exists() else None
    if finished(ck, a):
        return
    init = torch.load(a.init_from, map_location="cpu") if (a.init_from and ck is None) else None
    src = ck or init
    c = SoundStormConfig(**src["config"]) if src else SoundStormConfig(semantic_vocab=int(meta.get("units", 512)))
    for k in c.to_dict():
        if getattr(a, k, None) is not None and not src:
            setattr(c, k, getattr(a, k))
    if a.grow_layers and init:
        c.layers += a.grow_layers
    if a.isolate_tail and not ck:
        c.isolated_tail = True
        if a.tail_overlap is not None:
            c.tail_overlap = a.tail_overlap
    add_null = bool(a.semantic_drop) and not c.semantic_null
    if add_null:
        c.semantic_null = True
    if a.phones and not c.phone_vocab:
        from ..text import SYMBOLS
        c.phone_vocab = len(SYMBOLS) + 1
    model = SoundStorm(c).to(dev)
    # a phone embedding added to a trained model starts from zero: it may learn faster than the rest moves
    fresh = [model.phone.weight] if c.phone_vocab else []
    rest = [p for p in model.parameters() if all(p is not f for f in fresh)]
    groups = [{"params": rest, "mult": 1.0}] + ([{"params": fresh, "mult": a.phone_lr_mult}] if fresh else [])
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.98), weight_decay=1e-2)
    step = 0
    if init:
        if a.grow_layers:
            load_grown(model, init["model"], a.grow_layers)
        else:
            if add_null:
                # the null row starts as the mean unit: a neutral input the trained model already reads sensibly
                w = init["model"]["sem.weight"]
                init["model"]["sem.weight"] = torch.cat([w, w.mean(0, keepdim=True)])
                print("null semantic id added (the mean unit embedding)", flush=True)
            missing, unexpected = model.load_state_dict(init["model"], strict=False)
            if unexpected or any(k != "phone.weight" for k in missing):
                raise RuntimeError(f"checkpoint does not fit: missing {missing}, unexpected {unexpected}")
            if missing:
                print("phone embedding added (zeroed)", flush=True)
        print(f"initialised from {a.init_from} (step {init['step']})"
              + (f", {a.grow_layers} new blocks in front" if a.grow_layers else ""), flush=True)
        if a.acoustic_gain != 1.0:
            with torch.no_grad():
                model.ac.weight.mul_(a.acoustic_gain)
            print(f"acoustic embeddings x{a.acoustic_gain}", flush=True)
    if ck:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        print(f"resumed at step {step}", flush=True)
    need = bool(c.phone_vocab or a.phone_balance)
    train = Tokens(tokens / "train.npz", need, a.phone_balance, a.unit_balance)
    # validation reports the plain cross-entropy and, with phones at hand, the phone-balanced one (P = 1)
    valid = Tokens(tokens / "valid.npz", need, 1.0 if need else 0.0)
    if step == 0 and not init:
        init_from_statistics(model, train)
        print("initialised semantic embedding and heads from code statistics", flush=True)
    print(f"{len(train.ids)} train utterances; model {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params", flush=True)
    (run / "config.json").write_text(json.dumps(c.to_dict(), indent=1))
    lengths = [int(x) for x in a.lengths.split(",")]
    weights = tuple(float(x) for x in a.level_weights.split(","))
    # seeded by the run (not the step alone: every --init-from cycle started at step 0 and replayed the same
    # batches); numpy and torch (dropout) states travel in the checkpoint, so a resume continues exactly
    rng = seeded_rng(a.seed, run, step)
    restore_rng(ck, rng)
    if a.gta_prob and (train.gta is None or valid.gta is None):
        raise SystemExit(f"--gta-prob needs tokens with semantic_gta (sstrain.soundstorm.gta); {tokens} has none")
    vb = make_batch(valid, np.random.default_rng(5), 8, 400, c, dev, 1.0, 1.0 if a.gta_prob else 0.0, 1.0)
    # the same crops without phones (what voice prompts and ground-truth-unit evaluation give it)
    vb0 = make_batch(valid, np.random.default_rng(5), 8, 400, c, dev, 1.0, 1.0 if a.gta_prob else 0.0, 0.0) if c.phone_vocab else None
    log = open(run / "log.jsonl", "a")
    agg, t0, t_start = {}, time.time(), run_clock(ck)
    model.train()
    while step < a.steps:
        done = max(step / a.steps, time_share(a, t_start))
        lr = a.lr * min(1.0, (step + 1) / 150) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done)))
        for g in opt.param_groups:
            g["lr"] = lr * g.get("mult", 1.0)
        L = lengths[int(rng.integers(len(lengths)))]
        batch = make_batch(train, rng, max(1, a.frames_per_batch // L), L, c, dev, a.prompt_prob, a.gta_prob, a.phones)
        loss, acc = step_loss(model, *batch, rng, c, weights=weights, semantic_drop=a.semantic_drop)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if torch.isfinite(gn):
            opt.step()
        step += 1
        for k, v in (("loss", float(loss)), ("acc", acc)):
            agg[k] = agg.get(k, 0.0) + v
        agg["n"] = agg.get("n", 0) + 1
        if step % a.log_every == 0 or step == a.steps:
            rec = {k: round(v / agg["n"], 4) for k, v in agg.items() if k != "n"}
            rec.update(step=step, lr=round(lr, 6), s_per_step=round((time.time() - t0) / agg["n"], 3))
            if step % a.valid_every == 0:
                model.eval()
                with torch.no_grad():
                    for q in (0, 1, c.levels - 1):
                        l, ac_ = step_loss(model, *vb[:4], None, np.random.default_rng(9), c, level=q, ratio=0.7)
                        rec[f"valid_ce_l{q + 1}"], rec[f"valid_acc_l{q + 1}"] = round(float(l), 4), round(ac_, 4)
                    if c.semantic_null:
                        l, ac_ = step_loss(model, *vb[:4], None, np.random.default_rng(9), c, level=0, ratio=0.7, semantic_drop=1.0)
                        rec["valid_ce_l1_nounits"], rec["valid_acc_l1_nounits"] = round(float(l), 4), round(ac_, 4)
                    if vb[4] is not None:
                        l, _ = step_loss(model, *vb, np.random.default_rng(9), c, level=0, ratio=0.7)
                        rec["valid_ce_l1_balanced"] = round(float(l), 4)
                    if vb0 is not None:
                        l, ac_ = step_loss(model, *vb0[:4], None, np.random.default_rng(9), c, level=0, ratio=0.7)
                        rec["valid_ce_l1_nophones"], rec["valid_acc_l1_nophones"] = round(float(l), 4), round(ac_, 4)
                model.train()
            emit(log, rec)
            agg, t0 = {}, time.time()
        over = a.max_minutes and minutes_since(t_start) >= a.max_minutes
        if step % 200 == 0 or step == a.steps or over:
            save_checkpoint({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                             "minutes": minutes_since(t_start), "config": c.to_dict(), **rng_state(rng)}, run)
        if over:
            print(f"stopping after {a.max_minutes} minutes at step {step}", flush=True)
            break


if __name__ == "__main__":
    main()
