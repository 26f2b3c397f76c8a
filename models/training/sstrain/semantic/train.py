"""Train the semantic tokenizer: phone classifier (with speaker adversary), then k-means over its
features, then unit quality report (phone purity, speaker predictability). Resumable, logs JSON lines.

    cd models/training && /usr/bin/python3 -m sstrain.semantic.train --corpus ../../data/corpus --run ../../runs/semantic
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from ..audio import PackedCorpus, Utt
from ..codec.quantizer import kmeans
from ..runs import add_seed, emit, minutes_since, restore_rng, rng_state, run_clock, save_checkpoint, seeded_rng, start_run
from .model import PHONES, PhoneNet, SemanticConfig, Tokenizer

PHONE_ID = {p: i for i, p in enumerate(PHONES)}


def frame_labels(u: Utt, hop_s: float, frames: int) -> np.ndarray:
    """Phone id at the centre of each frame (flite's -psdur gives phone end times)."""
    ends = np.array([e for _, e in u.phones], dtype=np.float64)
    ids = np.array([PHONE_ID.get(p, 0) for p, _ in u.phones], dtype=np.int64)
    centres = (np.arange(frames) + 0.5) * hop_s
    k = np.searchsorted(ends, centres, side="left")
    return ids[np.minimum(k, len(ids) - 1)]


def batch(data: PackedCorpus, rng: np.random.Generator, n: int, frames: int, hop: int):
    """-> audio [n, frames * hop] (short utterances zero-padded), phone labels [n, frames] (-100 = padding),
    speaker [n], real frames of each row [n]"""
    x = np.zeros((n, frames * hop), dtype=np.float32)
    y = np.full((n, frames), -100, dtype=np.int64)
    spk = np.zeros(n, dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    for b in range(n):
        u = data.utts[rng.integers(len(data.utts))]
        total = u.length // hop
        lab = frame_labels(u, hop / 16000, total)
        s = int(rng.integers(0, max(1, total - frames + 1)))
        m = min(frames, total - s)
        x[b, :m * hop] = data.audio(u)[s * hop:(s + m) * hop]
        y[b, :m] = lab[s:s + m]
        spk[b] = u.speaker_id
        lengths[b] = max(1, m)
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(spk), torch.from_numpy(lengths)


@torch.no_grad()
def utterance_features(net: PhoneNet, data: PackedCorpus, utts, hop: int, dev):
    for u in utts:
        a = data.audio(u)
        n = len(a) // hop
        if n < 4:
            continue
        yield u, net.features(torch.from_numpy(a[:n * hop])[None].to(dev))[0], frame_labels(u, hop / 16000, n)


@torch.no_grad()
def unit_report(tok: Tokenizer, data: PackedCorpus, utts, c: SemanticConfig, dev) -> dict:
    """Phone purity of units, and how well the speaker can be guessed from units (frame and utterance)."""
    joint_phone = np.zeros((c.units, len(PHONES)))
    joint_spk = np.zeros((c.units, c.speakers))
    per_utt = []
    correct_phone = 0
    for u, h, lab in utterance_features(tok.net, data, utts, c.hop, dev):
        units = tok.assign(tok.net.unit_features(h)).cpu().numpy()
        # the classifier's own frame accuracy: roughly the ceiling of the units' phone purity
        correct_phone += int((tok.net.phone_head(h).argmax(-1).cpu().numpy() == lab).sum())
        np.add.at(joint_phone, (units, lab), 1)
        np.add.at(joint_spk, (units, u.speaker_id), 1)
        per_utt.append((units, u.speaker_id))
    total = joint_phone.sum()
    purity = joint_phone.max(1).sum() / total
    frame_spk_acc = joint_spk.max(1).sum() / total
    # utterance-level naive Bayes on unit counts (fit on half, test on the other half)
    half = len(per_utt) // 2
    fit = np.ones((c.units, c.speakers))
    for units, s in per_utt[:half]:
        np.add.at(fit, (units, s), 1)
    logp = np.log(fit / fit.sum(1, keepdims=True))
    prior = np.log(np.bincount([s for _, s in per_utt[:half]], minlength=c.speakers) + 1)
    correct = sum(int(np.argmax(logp[units].sum(0) + prior) == s) for units, s in per_utt[half:])
    used = int((joint_phone.sum(1) > 0).sum())
    return {"phone_purity": round(float(purity), 4), "phone_frame_accuracy": round(correct_phone / total, 4), "units_used": used,
            "speaker_acc_frame": round(float(frame_spk_acc), 4),
            "speaker_acc_utterance_nb": round(correct / max(1, len(per_utt) - half), 4),
            "speaker_chance": round(1 / c.speakers, 4), "frames": int(total), "utterances": len(per_utt)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop-frames", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--adversary", type=float, default=0.1, help="gradient-reversal scale of the speaker head")
    ap.add_argument("--kmeans-frames", type=int, default=120000)
    ap.add_argument("--unit-feature", choices=["hidden", "posterior"], default="hidden",
                    help="what k-means clusters (SemanticConfig.unit_feature); a finished run clusters again with another")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="stop (after a checkpoint, before k-means) when this much wall time passed; run again to resume")
    add_seed(ap)
    a = ap.parse_args(argv)
    dev, run = start_run(a.threads, a.device, a.run)
    seeded_rng(a.seed, run, 0)   # a fresh model's initial weights follow --seed (or the run) too
    c = SemanticConfig(unit_feature=a.unit_feature)
    net = PhoneNet(c).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-2)
    step, ck = 0, None
    ck_path = run / "last.ckpt"
    if ck_path.exists():
        ck = torch.load(ck_path, map_location="cpu")
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        print(f"resumed at step {step}", flush=True)
    train, valid = PackedCorpus(a.corpus, "train"), PackedCorpus(a.corpus, "valid")
    # numpy (crops) and torch (dropout) generators seeded by the run, resumed from the checkpoint when it has them
    rng = seeded_rng(a.seed, run, step)
    restore_rng(ck, rng)
    log = open(run / "log.jsonl", "a")
    agg, t0, t_start = {}, time.time(), run_clock(ck)
    net.train()
    while step < a.steps:
        lr = a.lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y, spk, lengths = (t.to(dev) for t in batch(train, rng, a.batch, a.crop_frames, c.hop))
        h, ph, sp = net(x, a.adversary, lengths)
        l_ph = F.cross_entropy(ph.reshape(-1, len(PHONES)), y.reshape(-1), ignore_index=-100)
        real = (y >= 0).unsqueeze(-1).to(sp.dtype)      # the speaker guess: its mean over the real frames
        l_sp = F.cross_entropy((sp * real).sum(1) / real.sum(1).clamp(min=1), spk)
        loss = l_ph + l_sp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(net.parameters(), 2.0)
        if not torch.isfinite(gn):
            print(f"step {step}: non-finite gradient, skipped", flush=True)
            continue
        opt.step()
        step += 1
        acc = float(((ph.argmax(-1) == y) & (y >= 0)).sum() / (y >= 0).sum())
        for k, v in (("phone_ce", float(l_ph)), ("speaker_ce", float(l_sp)), ("phone_acc", acc)):
            agg[k] = agg.get(k, 0.0) + v
        agg["n"] = agg.get("n", 0) + 1
        if step % a.log_every == 0 or step == a.steps:
            rec = {k: round(v / agg["n"], 4) for k, v in agg.items() if k != "n"}
            rec.update(step=step, lr=round(lr, 6), s_per_step=round((time.time() - t0) / agg["n"], 3))
            emit(log, rec)
            agg, t0 = {}, time.time()
        over = a.max_minutes and minutes_since(t_start) >= a.max_minutes
        if step % 250 == 0 or step == a.steps or over:
            save_checkpoint({"model": net.state_dict(), "opt": opt.state_dict(), "step": step, "config": c.to_dict(),
                             "minutes": minutes_since(t_start), **rng_state(rng)}, run)
        if over and step < a.steps:
            print(f"stopping after {a.max_minutes} minutes at step {step}", flush=True)
            return

    net.eval()
    print("k-means over phone-net features ...", flush=True)
    feats, n = [], 0
    order = np.random.default_rng(1).permutation(len(train.utts))
    for u, h, _ in utterance_features(net, train, (train.utts[i] for i in order), c.hop, dev):
        feats.append(net.unit_features(h).cpu())
        n += len(h)
        if n >= a.kmeans_frames:
            break
    centroids = kmeans(torch.cat(feats).to(dev), c.units, iters=20)
    tok = Tokenizer(net, centroids).eval()
    report = unit_report(tok, valid, valid.utts[:600], c, dev)
    report["kmeans_frames"] = n
    print(json.dumps(report), flush=True)
    (run / "report.json").write_text(json.dumps(report, indent=1))
    torch.save({"model": net.state_dict(), "centroids": centroids.cpu(), "config": c.to_dict(), "step": step,
                "report": report}, run / "tokenizer.pt")


if __name__ == "__main__":
    main()
