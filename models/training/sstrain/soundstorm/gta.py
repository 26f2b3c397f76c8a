"""Ground-truth-aligned semantic units for SoundStorm fine-tuning: what the text-to-semantic model says
for each training utterance when it is given the utterance's real phone durations.

SoundStorm is trained on units the tokenizer reads off real audio, but serves units the text-to-semantic
model writes, which are phonetically purer and differently distributed (BENCHMARKS.md, session 15). As
vocoders are fine-tuned on ground-truth-aligned predicted spectrograms, SoundStorm can learn the served
distribution: the text-to-semantic token model, teacher-forced with the aligned durations (so its frames
line up with the real codec codes), picks each frame's unit the way serving does (greedy, plus the unit
prior), in pieces of at most --max-symbols symbols cut after word separators, each prompted by a voice
prompt (another utterance of the same speaker, real units) and the piece before it with the units it
was given. Frames outside the aligned span keep their real units.

    cd models/training && /usr/bin/python3 -m sstrain.soundstorm.gta --t2s ../../runs/t2s/last.ckpt \\
        --align ../../data/t2s-tokens/align.pkl --tokens ../../data/t2s-tokens/train.jsonl \\
        --prior ../../models/default/t2s_unit_prior.f32 --out ../../data/ss-gta

Input: a `soundstorm prepare units --codes` .jsonl (id, units, codes [Q][2n]). Output: train.npz and
valid.npz (the last --valid utterances) for `sstrain.soundstorm.train --tokens`, with `semantic` (real),
`semantic_gta` (this), `sem_offsets`, `codes` [2n, Q], `ids`, and meta.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..runs import pick_device
from ..t2s.data import SPACE, T2SData, load_alignments
from ..t2s.model import T2SConfig, TokenModel
from ..text import SYMBOLS


def pieces(symbols: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """[start, end) spans of at most `limit` symbols, cut after word separators (a longer word is one span)."""
    out, a, last_cut = [], 0, None
    for i, s in enumerate(symbols):
        if i - a >= limit and last_cut is not None and last_cut > a:
            out.append((a, last_cut))
            a = last_cut
        if s == SPACE:
            last_cut = i + 1
    out.append((a, len(symbols)))
    return [p for p in out if p[1] > p[0]]


@torch.no_grad()
def aligned_units(model: TokenModel, prior: torch.Tensor | None, a, vp_sym, vp_sem, limit: int, ctx: int, dev) -> np.ndarray:
    """The units the token model picks for utterance `a` with its real durations -> [sum(a.frames)]."""
    t = lambda x, dt=torch.long: torch.as_tensor(x, dtype=dt, device=dev)[None]
    cum = np.concatenate([[0], np.cumsum(a.frames)])
    out = np.zeros(int(cum[-1]), np.int64)
    for s0, s1 in pieces(a.symbols, limit):
        frames = a.frames[s0:s1]
        if frames.sum() == 0:
            continue
        fph = np.repeat(a.symbols[s0:s1], frames)
        fpos = np.concatenate([(np.arange(n) + 0.5) / n for n in frames if n > 0])
        p0 = max(0, s0 - ctx)
        pph = np.concatenate([vp_sym, a.symbols[p0:s0]])
        psem = np.concatenate([vp_sem, out[cum[p0]:cum[s0]]])
        logits = model(t(fph), t(fpos, torch.float32), t(pph), t(psem))[0]
        if prior is not None:
            logits = logits + prior[t(fph)[0]]
        out[cum[s0]:cum[s1]] = logits.argmax(-1).cpu().numpy()
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--t2s", required=True, help="text-to-semantic checkpoint (sstrain.t2s.train or .from_onnx)")
    ap.add_argument("--align", required=True, help="align.pkl of sstrain.t2s.data")
    ap.add_argument("--tokens", required=True, help="`soundstorm prepare units --codes` .jsonl")
    ap.add_argument("--prior", default=None, help="t2s_unit_prior.f32 (log P(symbol | unit)), as served")
    ap.add_argument("--prior-weight", type=float, default=1.0)
    ap.add_argument("--max-symbols", type=int, default=80, help="as the manifest's text_to_semantic.max_input_symbols")
    ap.add_argument("--context-phonemes", type=int, default=48, help="as the manifest's text_to_semantic.context_phonemes")
    ap.add_argument("--valid", type=int, default=200, help="the last N utterances go to valid.npz")
    ap.add_argument("--limit", type=int, default=0, help="only the first N utterances (0: all)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    dev = pick_device(a.device)
    ck = torch.load(a.t2s, map_location="cpu")
    cfg = T2SConfig(**ck["config"])
    model = TokenModel(cfg)
    model.load_state_dict(ck["tokens"])
    model.to(dev).eval()
    prior = None
    if a.prior and a.prior_weight > 0:
        table = np.fromfile(a.prior, dtype="<f4").reshape(len(SYMBOLS), cfg.units)
        prior = torch.as_tensor(a.prior_weight * table, device=dev)
    rows = [json.loads(line) for line in open(a.tokens) if line.strip()]
    rows = [r for r in rows if "codes" in r]
    if a.limit:
        rows = rows[:a.limit]
    if not rows:
        raise SystemExit(f"{a.tokens} has no utterances with codes (prepare units --codes)")
    aligned = load_alignments(Path(a.align))
    # voice prompts drawn as the text-to-semantic training draws them (whole words, about 60 frames)
    units_by_id = {r["id"]: np.asarray(r["units"], np.int64) for r in rows}
    prompts = T2SData(units_by_id, aligned)
    index = {id(it[0]): i for i, it in enumerate(prompts.items)}   # T2SData keeps the aligned objects themselves
    rng = np.random.default_rng(0)
    kept, t0, agree, total = [], time.time(), 0, 0
    for k, r in enumerate(rows):
        al = aligned.get(r["id"])
        units = units_by_id[r["id"]]
        codes = np.asarray(r["codes"], np.int64).T                # [2n, Q]
        if al is None or id(al) not in index or len(codes) != 2 * len(units):
            continue
        vp_sym, vp_sem = prompts.voice_prompt(rng, al.speaker_id, index[id(al)])
        gta = units.copy()
        span = aligned_units(model, prior, al, vp_sym, vp_sem, a.max_symbols, a.context_phonemes, dev)
        n = max(0, min(len(span), len(units) - al.start))
        gta[al.start:al.start + n] = span[:n]
        agree += int((gta[al.start:al.start + n] == units[al.start:al.start + n]).sum())
        total += n
        kept.append((r["id"], units, gta, codes))
        if (k + 1) % 500 == 0:
            print(f"{k + 1}/{len(rows)} utterances ({time.time() - t0:.0f} s); units equal to the real ones "
                  f"{agree / max(1, total):.1%}", flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", kept[:-a.valid] if a.valid else kept), ("valid", kept[-a.valid:] if a.valid else kept[:0])):
        off = np.concatenate([[0], np.cumsum([len(u) for _, u, _, _ in part])])
        np.savez(out / f"{name}.npz", ids=np.array([i for i, *_ in part]),
                 semantic=np.concatenate([u for _, u, _, _ in part]).astype(np.int16),
                 semantic_gta=np.concatenate([g for _, _, g, _ in part]).astype(np.int16),
                 sem_offsets=off.astype(np.int64), codes=np.concatenate([c for *_, c in part]).astype(np.int16))
    (out / "meta.json").write_text(json.dumps({"units": cfg.units, "levels": int(kept[0][3].shape[1]),
                                                "gta_from": str(a.t2s), "prior_weight": a.prior_weight if prior is not None else 0,
                                                "utterances": len(kept), "valid": a.valid}, indent=1) + "\n")
    print(f"wrote {out}: {len(kept)} utterances, units equal to the real ones {agree / max(1, total):.1%}", flush=True)


if __name__ == "__main__":
    main()
