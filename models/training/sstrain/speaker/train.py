"""Speaker classifier for EVALUATION ONLY (never used in serving): which corpus voice is speaking in a
3 s crop. Half of the training crops go through the codec first, so generated audio (which always
passes the codec decoder) is not out of domain. Exports ONNX + label list to models/eval/. Resumable
(checkpoint every --ckpt-every steps).

    cd models/training && /usr/bin/python3 -m sstrain.speaker.train --corpus ../../data/corpus \\
        --codec ../../runs/codec-dec/last.ckpt --run ../../runs/speaker --out ../../models/eval
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..audio import LogMel, PackedCorpus
from ..codec.export import OPSET, fp16_weights
from ..runs import add_seed, restore_rng, rng_state, save_checkpoint, seeded_rng, start_run
from ..tokens import load_codec

CROP = 48000  # 3 s


class SpeakerNet(nn.Module):
    def __init__(self, speakers: int, d: int = 128):
        super().__init__()
        self.mel = LogMel(16000, 1024, 320, 80)
        self.net = nn.Sequential(
            nn.Conv1d(80, d, 5, padding=2), nn.GELU(), nn.BatchNorm1d(d),
            nn.Conv1d(d, d, 5, padding=4, dilation=2), nn.GELU(), nn.BatchNorm1d(d),
            nn.Conv1d(d, d, 5, padding=8, dilation=4), nn.GELU(), nn.BatchNorm1d(d))
        self.out = nn.Linear(2 * d, speakers)

    def forward(self, audio):  # [B, S] -> logits [B, speakers]
        h = self.net(self.mel(audio))
        return self.out(torch.cat([h.mean(2), h.std(2)], 1))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--codec", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--ckpt-every", type=int, default=100)
    add_seed(ap)
    a = ap.parse_args(argv)
    dev, run = start_run(a.threads, a.device, a.run)
    seeded_rng(a.seed, run, 0)   # the initial weights follow --seed (or the run) too
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    train, valid = PackedCorpus(a.corpus, "train"), PackedCorpus(a.corpus, "valid")
    labels = [None] * (max(u.speaker_id for u in train.utts) + 1)
    for u in train.utts:
        labels[u.speaker_id] = u.id.split("_", 1)[1]
    codec = load_codec(a.codec).to(dev)
    net = SpeakerNet(len(labels)).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-2)
    start, ck = 0, None
    ck_path = run / "last.ckpt"
    if ck_path.exists():
        ck = torch.load(ck_path, map_location="cpu")
        if ck["labels"] != labels:
            raise SystemExit(f"{ck_path} was trained on other speakers: {ck['labels']}")
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        start = ck["step"]
        print(f"resumed at step {start}", flush=True)
    # numpy (crops) and torch (gains) generators seeded by the run, put back from the checkpoint on a resume
    rng = seeded_rng(a.seed, run, start)
    restore_rng(ck, rng)

    def batch(data, n, r, codec_share=0.5):
        idx = r.integers(len(data.utts), size=n)
        x = np.zeros((n, CROP), np.float32)
        for b, i in enumerate(idx):
            au = data.audio(data.utts[i])
            s = int(r.integers(0, max(1, len(au) - CROP + 1)))
            seg = au[s:s + CROP]
            x[b, :len(seg)] = seg
        x = torch.from_numpy(x).to(dev)
        k = int(n * codec_share)
        if k:
            with torch.no_grad():
                x[:k] = codec.decode(codec.encode(x[:k]))[:, :CROP]
        return x, torch.tensor([data.utts[i].speaker_id for i in idx], device=dev)

    t0 = time.time()
    net.train()
    for step in range(start + 1, a.steps + 1):
        x, y = batch(train, a.batch, rng)
        x = x * torch.empty(x.shape[0], 1, device=dev).uniform_(0.3, 1.5)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % a.log_every == 0:
            print(json.dumps({"step": step, "loss": round(float(loss), 4), "s": round(time.time() - t0)}), flush=True)
        if step % a.ckpt_every == 0 or step == a.steps:
            save_checkpoint({"model": net.state_dict(), "opt": opt.state_dict(), "step": step, "labels": labels,
                             **rng_state(rng)}, run)
    net.eval()
    vr = np.random.default_rng(1)
    correct = total = 0
    with torch.no_grad():
        for share in (0.0, 1.0):
            for _ in range(10):
                x, y = batch(valid, 16, vr, share)
                correct += int((net(x).argmax(1) == y).sum())
                total += len(y)
    acc = correct / total
    print(json.dumps({"valid_accuracy": round(acc, 4), "crops": total}), flush=True)
    torch.save({"model": net.state_dict(), "labels": labels}, run / "speaker.pt")
    net.cpu()   # the dummy input is on the CPU (a CUDA-trained net failed to export)
    with torch.no_grad():
        torch.onnx.export(net, (torch.zeros(1, CROP),), str(out / "speaker_classifier.onnx"), opset_version=OPSET,
                          input_names=["audio"], output_names=["logits"],
                          dynamic_axes={"audio": {0: "batch", 1: "samples"}, "logits": {0: "batch"}})
    fp16_weights(out / "speaker_classifier.onnx")
    (out / "speaker_classifier.json").write_text(json.dumps({
        "purpose": "evaluation only: which corpus voice speaks in a crop; never used in serving",
        "file": "speaker_classifier.onnx", "input": "audio", "output": "logits", "sample_rate": 16000,
        "crop_samples": CROP, "labels": labels, "valid_accuracy": round(acc, 4), "steps": a.steps}, indent=1) + "\n")


if __name__ == "__main__":
    main()
