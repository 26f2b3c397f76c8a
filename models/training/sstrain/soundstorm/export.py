"""Export a SoundStorm checkpoint as the serving graph `soundstorm.onnx` (float16 weights).

The serving contract batches windows of different streams in one pass: rows are right-padded to the
longest window, `lengths` says how many frames of each row are real (padded frames are masked out of
attention, the convolution and its normalisation, so a row gets exactly the logits it would get
alone), and `level` says which RVQ level each row predicts.

The voice prompt is not part of the window: the model was trained with the prompt attending only to
itself, so its keys and values per layer (`prompt_k`, `prompt_v`, right-padded per row, real length in
`prompt_lengths`) are computed once per voice by running this same graph on the prompt alone
(`prompt_lengths` 0; outputs `k`, `v`) and fed to every pass of every window in that voice.

    cd models/training && /usr/bin/python3 -m sstrain.soundstorm.export \\
        --ckpt ../../runs/soundstorm/last.ckpt --model-dir ../../models/default

With --model-dir the graph is written there and the manifest's `graphs.soundstorm` entry (and
training.json's soundstorm step, if that file exists) are updated in place. The served graph is an
int8 copy (models/tools/quantize_int8.py: 1.7x faster per pass on CPU, 98-99 % of argmaxes equal);
the float16 graph stays beside it as the manifest's `reference_file` (parity tests, evaluation).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from ..codec.export import OPSET, fp16_weights, io
from .model import SoundStorm, SoundStormConfig


def contract(c: SoundStormConfig) -> tuple[dict, dict]:
    kv = [c.layers, "batch", c.heads, "prompt_frames", c.dim // c.heads]
    own = [c.layers, "batch", c.heads, "frames", c.dim // c.heads]
    inputs = {"semantic": io("semantic", "int64", ["batch", "frames"]),
              "acoustic": io("acoustic", "int64", ["batch", "frames", c.levels]),
              "level": io("level", "int64", ["batch"]),
              "lengths": io("lengths", "int64", ["batch"]),
              "prompt_k": io("prompt_k", "float32", kv),
              "prompt_v": io("prompt_v", "float32", kv),
              "prompt_lengths": io("prompt_lengths", "int64", ["batch"])}
    return inputs, {"logits": io("logits", "float32", ["batch", "frames", c.codebook]),
                    "k": io("k", "float32", own), "v": io("v", "float32", own)}


QUANTIZER = Path(__file__).resolve().parents[3] / "tools" / "quantize_int8.py"


def quantize(src: Path, dst: Path) -> None:
    # reduce-range: 7-bit weights, so the u8 x s8 kernels of CPUs without VNNI cannot saturate
    subprocess.run([sys.executable, str(QUANTIZER), "--reduce-range", str(src), str(dst)], check=True)


def export_soundstorm(model: SoundStorm, path: Path, fp16: bool = True, int8: bool = True) -> dict:
    """Write the batched serving graph (and its int8 copy); returns its manifest entry."""
    c = model.cfg
    model.eval()
    inputs, outputs = contract(c)
    B, T, P = 2, 40, 12
    kv = torch.zeros(c.layers, B, c.heads, P, c.dim // c.heads)
    args = (torch.zeros(B, T, dtype=torch.long), torch.full((B, T, c.levels), c.mask_id, dtype=torch.long),
            torch.tensor([0, 1]), torch.tensor([T, T - 7]), kv, kv.clone(), torch.tensor([P, P - 5]))
    dyn = {s["name"]: {i: d for i, d in enumerate(s["shape"]) if isinstance(d, str)}
           for s in list(inputs.values()) + list(outputs.values())}
    torch.onnx.export(model, args, str(path), opset_version=OPSET, input_names=[s["name"] for s in inputs.values()],
                      output_names=[s["name"] for s in outputs.values()], dynamic_axes=dyn, do_constant_folding=True)
    if fp16:
        fp16_weights(path)
    if not int8:
        return {"file": path.name, "inputs": inputs, "outputs": outputs}
    q = path.with_name(path.stem + "_int8.onnx")
    quantize(path, q)
    return {"file": q.name, "reference_file": path.name, "inputs": inputs, "outputs": outputs}


def load_checkpoint(path: str | Path) -> tuple[SoundStorm, dict]:
    ck = torch.load(path, map_location="cpu")
    model = SoundStorm(SoundStormConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    return model.eval(), ck


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--model-dir", required=True, help="model set to update (model.json must exist)")
    ap.add_argument("--fp32", action="store_true", help="keep float32 weights")
    ap.add_argument("--no-int8", action="store_true", help="serve the float graph itself")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    out = Path(a.model_dir)
    model, ck = load_checkpoint(a.ckpt)
    entry = export_soundstorm(model, out / "soundstorm.onnx", fp16=not a.fp32, int8=not a.no_int8)
    man = json.loads((out / "model.json").read_text())
    man["graphs"]["soundstorm"] = entry
    # how the server may use it: a tail-isolated model serves each window's tail as cached states
    for k in ("cached_tail", "tail_overlap_frames", "phone_conditioning", "null_semantic_id"):
        man["soundstorm"].pop(k, None)
    if model.cfg.semantic_null:
        # the unit id meaning "no unit": the unconditional pass of decoding.semantic_guidance
        man["soundstorm"]["null_semantic_id"] = model.cfg.null_semantic_id
    if model.cfg.phone_vocab:
        # the conditioning id of a frame is unit + offset x (symbol id + 1); 0 = no symbol
        man["soundstorm"]["phone_conditioning"] = {"offset": model.cfg.semantic_vocab, "phones": model.cfg.phone_vocab}
    if model.cfg.isolated_tail:
        man["soundstorm"]["cached_tail"] = True
        if model.cfg.tail_overlap:
            man["soundstorm"]["tail_overlap_frames"] = model.cfg.tail_overlap
    (out / "model.json").write_text(json.dumps(man, indent=2, ensure_ascii=False) + "\n")
    tr = out / "training.json"
    if tr.exists():
        t = json.loads(tr.read_text())
        t.setdefault("soundstorm", {})["step"] = ck["step"]
        t["soundstorm"]["config"] = model.cfg.to_dict()   # what sstrain.soundstorm.from_onnx rebuilds
        tr.write_text(json.dumps(t, indent=1) + "\n")
    print(f"exported step {ck['step']} to {out / 'soundstorm.onnx'}")


if __name__ == "__main__":
    main()
