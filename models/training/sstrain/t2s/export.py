"""Export the text-to-semantic duration and token models to ONNX.

    cd models/training && /usr/bin/python3 -m sstrain.t2s.export --ckpt ../../runs/t2s/last.ckpt --model-dir ../../models/default

With --model-dir the two graphs are written there and the manifest's `graphs.t2s_duration` /
`graphs.t2s_tokens` entries (and training.json's t2s step) are updated in place; `sstrain.bundle`
uses the same function when it assembles a whole model set.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..codec.export import io
from ..graph_export import export_graph
from ..text import SYMBOLS
from .model import DurationModel, T2SConfig, TokenModel


def export_t2s(ckpt: str | Path, out: Path, fp16: bool = True) -> tuple[dict, T2SConfig, int]:
    """-> (manifest graph entries, config, training step)"""
    ck = torch.load(ckpt, map_location="cpu")
    tc = T2SConfig(**ck["config"])
    dur, tm = DurationModel(tc), TokenModel(tc)
    dur.load_state_dict(ck["duration"])
    tm.load_state_dict(ck["tokens"])
    dur.eval(), tm.eval()
    P, N, Fp = 9, 7, 20
    ph = torch.randint(5, len(SYMBOLS), (1, N))
    graphs = {
        "t2s_duration": export_graph(
            dur, (ph, torch.randint(5, len(SYMBOLS), (1, P)), torch.randint(0, tc.units, (1, Fp))), out / "t2s_duration.onnx",
            {"phonemes": io("phonemes", "int64", ["batch", "phonemes"]),
             "prompt_phonemes": io("prompt_phonemes", "int64", ["batch", "prompt_phonemes"]),
             "prompt_semantic": io("prompt_semantic", "int64", ["batch", "prompt_frames"])},
            {"log_durations": io("log_durations", "float32", ["batch", "phonemes"])}, fp16),
        "t2s_tokens": export_graph(
            tm, (torch.randint(5, len(SYMBOLS), (1, 30)), torch.rand(1, 30), torch.randint(5, len(SYMBOLS), (1, P)),
                 torch.randint(0, tc.units, (1, Fp))), out / "t2s_tokens.onnx",
            {"frame_phonemes": io("frame_phonemes", "int64", ["batch", "frames"]),
             "frame_position": io("frame_position", "float32", ["batch", "frames"]),
             "prompt_phonemes": io("prompt_phonemes", "int64", ["batch", "prompt_phonemes"]),
             "prompt_semantic": io("prompt_semantic", "int64", ["batch", "prompt_frames"])},
            {"logits": io("logits", "float32", ["batch", "frames", tc.units])}, fp16),
    }
    return graphs, tc, ck["step"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--model-dir", required=True, help="model set to update (model.json must exist)")
    ap.add_argument("--fp32", action="store_true")
    a = ap.parse_args(argv)
    out = Path(a.model_dir)
    graphs, tc, step = export_t2s(a.ckpt, out, fp16=not a.fp32)
    mpath = out / "model.json"
    m = json.loads(mpath.read_text())
    m.setdefault("graphs", {}).update(graphs)
    m.setdefault("text_to_semantic", {})["log_duration_offset"] = tc.duration_offset
    mpath.write_text(json.dumps(m, indent=2, ensure_ascii=False) + "\n")
    tr = out / "training.json"
    if tr.exists():
        t = json.loads(tr.read_text())
        t["t2s"] = {"step": step, "config": tc.to_dict()}
        tr.write_text(json.dumps(t, indent=1) + "\n")
    print(json.dumps({"exported_step": step, "sizes_mb": {g["file"]: round((out / g["file"]).stat().st_size / 1e6, 2)
                                                          for g in graphs.values()}}))


if __name__ == "__main__":
    main()
