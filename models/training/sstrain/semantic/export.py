"""Export a semantic tokenizer (`sstrain.semantic.train`'s tokenizer.pt) into a model set as
`semantic_tokenizer.onnx` (float16 weights), updating the manifest's graph entry and training.json's
`semantic` entry. The contract: audio [batch, samples] in, units [batch, semantic_frames] out; with
--switch-penalty also distances [batch, semantic_frames, units] out and the manifest's semantic.switch_penalty.

A new tokenizer gives new units: SoundStorm, text to semantic, their unit priors and the voice prompts'
units were all made with the old ones, so a model set is only consistent again once each is carried over
(`sstrain.remap_units`, then training) or remade (`models/tools/reclone_voices.mjs --write`).

    cd models/training && /usr/bin/python3 -m sstrain.semantic.export \\
        --tokenizer ../../runs/semantic/tokenizer.pt --model-dir ../../runs/copies/NEW
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..codec.export import io
from ..graph_export import export_graph
from ..tokens import load_tokenizer_module
from .model import Tokenizer, TokenizerWithDistances


class _PaddedTokenizer(nn.Module):
    """Pads the audio to a whole number of units inside the graph, so callers pass any length."""

    def __init__(self, tok: nn.Module, hop: int):
        super().__init__()
        self.tok, self.hop = tok, hop

    def forward(self, audio):
        pad = (self.hop - audio.shape[1] % self.hop) % self.hop
        return self.tok(F.pad(audio, (0, pad)))


def export_tokenizer(tok: Tokenizer, path: Path, fp16: bool = True, distances: bool = False) -> dict:
    """Write the serving graph semantic_tokenizer.onnx; returns its manifest entry. With `distances`, a second
    output holds every frame's squared distance to every centroid (for a switch penalty's Viterbi pass)."""
    outputs = {"units": io("units", "int64", ["batch", "semantic_frames"])}
    if distances:
        outputs["distances"] = io("distances", "float32", ["batch", "semantic_frames", "units"])
    inner = TokenizerWithDistances(tok) if distances else tok
    return export_graph(_PaddedTokenizer(inner, tok.net.cfg.hop).eval(), (torch.zeros(1, tok.net.cfg.sample_rate),), path,
                        {"audio": io("audio", "float32", ["batch", "samples"])}, outputs, fp16)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="tokenizer.pt from sstrain.semantic.train")
    ap.add_argument("--model-dir", required=True, help="model set to update (model.json must exist)")
    ap.add_argument("--fp32", action="store_true", help="keep float32 weights")
    ap.add_argument("--switch-penalty", type=float, default=0.0,
                    help="units of real audio are decoded with this penalty per change of unit (the models must have "
                         "trained on tokens made so: sstrain.tokens --switch-penalty); adds the distances output")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    out = Path(a.model_dir)
    man = json.loads((out / "model.json").read_text())
    tok = load_tokenizer_module(a.tokenizer)
    units = int(tok.centroids.shape[0])
    if units != man["semantic"]["vocab_size"]:
        # every graph downstream has a row per unit: a different count is a new model set, not an update
        raise SystemExit(f"tokenizer has {units} units, model set {man['semantic']['vocab_size']}")
    if tok.net.cfg.sample_rate // tok.net.cfg.hop != man["semantic"]["rate"]:
        raise SystemExit(f"tokenizer runs at {tok.net.cfg.sample_rate / tok.net.cfg.hop} Hz, model set at {man['semantic']['rate']}")
    man["graphs"]["semantic_tokenizer"] = export_tokenizer(tok, out / "semantic_tokenizer.onnx", not a.fp32, a.switch_penalty > 0)
    man["semantic"].pop("switch_penalty", None)
    if a.switch_penalty > 0:
        man["semantic"]["switch_penalty"] = a.switch_penalty
    (out / "model.json").write_text(json.dumps(man, indent=2, ensure_ascii=False) + "\n")
    ck = torch.load(a.tokenizer, map_location="cpu")
    tr = out / "training.json"
    if tr.exists():
        t = json.loads(tr.read_text())
        t["semantic"] = {"step": ck.get("step"), "config": ck["config"], **({"report": ck["report"]} if "report" in ck else {})}
        tr.write_text(json.dumps(t, indent=1) + "\n")
    print(f"exported tokenizer (step {ck.get('step')}) to {out / 'semantic_tokenizer.onnx'}")


if __name__ == "__main__":
    main()
