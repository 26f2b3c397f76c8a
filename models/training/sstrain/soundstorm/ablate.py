"""Where does SoundStorm lose words? Level ablation on held-out (valid split) utterances of the base
voices, decoded with the PyTorch codec and transcribed with pocketsphinx:

    gt:N        ground-truth codes, first N levels (the codec's quantizer dropout lets fewer levels decode)
    ss:N        SoundStorm's codes (served schedule, voice prompt from another utterance), first N levels
    gt1+ss:N    ground-truth level 1, SoundStorm's levels 2..N given it

Answers whether fine levels help or hurt intelligibility and how much of the loss is level 1.

    cd models/training && /usr/bin/python3 -m sstrain.soundstorm.ablate --ckpt ../../runs/soundstorm-iso/last.ckpt \\
        --codec ../../runs/codec-dec/last.ckpt --tokens ../../data/tokens --corpus ../../data/corpus --per-voice 20
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import torch

from ..tokens import load_codec
from .export import load_checkpoint
from .generate import sample_codes
from .train import Tokens

BASE = ("slt", "awb", "rms", "kal16")


def words(s: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", re.sub(r"\(\d+\)", "", s.lower())).split()


def edit_distance(a: list[str], b: list[str]) -> int:
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
    return d[len(b)]


def wer(refs: list[str], hyps: list[str]) -> float:
    """Word error rate in %, over all pairs (errors / reference words)."""
    e = sum(edit_distance(words(r), words(h)) for r, h in zip(refs, hyps))
    return round(100 * e / max(1, sum(len(words(r)) for r in refs)), 2)


def transcribe(pcms: list[np.ndarray]) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        ids = []
        for i, x in enumerate(pcms):
            uid = f"u{i:05d}"
            with wave.open(f"{tmp}/{uid}.wav", "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
                # rounded like the server's WAV writer: pocketsphinx is sensitive enough that 1-LSB differences move WER
                w.writeframes(np.round(np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes())
            ids.append(uid)
        Path(f"{tmp}/ctl").write_text("\n".join(ids) + "\n")
        subprocess.run(["pocketsphinx_batch", "-adcin", "yes", "-adchdr", "44", "-cepdir", tmp, "-cepext", ".wav",
                        "-ctl", f"{tmp}/ctl", "-hyp", f"{tmp}/hyp", "-logfn", "/dev/null"], check=True)
        hyp = {}
        for line in Path(f"{tmp}/hyp").read_text().splitlines():
            m = re.match(r"^(.*?)\s*\((u\d+) -?\d+\)$", line.strip())
            if m:
                hyp[m.group(2)] = m.group(1)
        return [hyp.get(u, "") for u in ids]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--codec", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--corpus", required=True, help="for the utterances' text")
    ap.add_argument("--per-voice", type=int, default=20)
    ap.add_argument("--schedule", default="4,1,1,1,1,1,1,1")
    ap.add_argument("--variants", default="gt:8,gt:4,gt:2,gt:1,ss:8,ss:4,ss:2,ss:1,gt1+ss:8,gt1+ss:4")
    ap.add_argument("--sampling", default="1.0,0.3,4.5", help="level temperature start,end and Gumbel noise scale")
    ap.add_argument("--prompt-frames", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model, _ = load_checkpoint(a.ckpt)
    codec = load_codec(a.codec)
    data = Tokens(Path(a.tokens) / "valid.npz")
    text = {}
    for line in (Path(a.corpus) / "valid.jsonl").read_text().splitlines():
        r = json.loads(line)
        text[r["id"]] = r["text"]
    rng = np.random.default_rng(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    schedule = [int(x) for x in a.schedule.split(",")]
    Q, mask = model.cfg.levels, model.cfg.mask_id
    variants = a.variants.split(",")
    pcm: dict[str, list[np.ndarray]] = {v: [] for v in variants}
    refs, voices = [], []
    t0 = time.time()
    for voice in BASE:
        idx = [i for i in data.by_speaker.get(voice, []) if 2 * (data.off[i + 1] - data.off[i]) <= 500]
        for i in sorted(rng.choice(idx, size=min(a.per_voice, len(idx)), replace=False).tolist()):
            sem, gt = data.utt(i)
            pool = [j for j in data.by_speaker[voice] if j != i]
            ps, pa = data.utt(pool[int(rng.integers(len(pool)))])
            ps, pa = ps[:a.prompt_frames], pa[:a.prompt_frames]
            p, n = len(ps), len(sem)
            semt = torch.from_numpy(np.concatenate([ps, sem]))[None]
            pad = torch.zeros(1, p + n, dtype=torch.bool)
            prefix = torch.tensor([p])

            def generate(fix_level1: bool) -> torch.Tensor:
                grid = torch.full((1, p + n, Q), mask, dtype=torch.long)
                grid[0, :p] = torch.from_numpy(pa)
                if fix_level1:
                    grid[0, p:, 0] = torch.from_numpy(gt[:, 0])
                t0_, t1_, ns = (float(x) for x in a.sampling.split(","))
                return sample_codes(model, semt, grid, pad, prefix, schedule, gen, t0_, t1_, ns)[0, p:]

            made: dict[str, torch.Tensor] = {}
            for v in variants:
                kind, lv = v.split(":")
                if kind not in made:
                    made[kind] = torch.from_numpy(gt) if kind == "gt" else generate(kind == "gt1+ss")
                codes = made[kind][:, :int(lv)].T[None]                          # [1, N, T]
                with torch.no_grad():
                    pcm[v].append(codec.decode(codes).squeeze().numpy())
            refs.append(text[data.ids[i]])
            voices.append(voice)
        print(f"{voice}: generated ({time.time() - t0:.0f} s)", flush=True)
    result: dict[str, dict[str, float]] = {}
    for v in variants:
        hyps = transcribe(pcm[v])
        per = {voice: wer([r for r, vv in zip(refs, voices) if vv == voice],
                          [h for h, vv in zip(hyps, voices) if vv == voice]) for voice in BASE}
        result[v] = per
        print(f"{v:10s} " + "  ".join(f"{k} {x:6.2f}" for k, x in per.items()), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"per_voice": a.per_voice, "schedule": schedule, "sampling": a.sampling, "wer": result}, indent=1))


if __name__ == "__main__":
    main()
