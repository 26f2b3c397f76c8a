"""Assemble a servable model set: export the semantic tokenizer, SoundStorm and the text-to-semantic
graphs to ONNX (float16 weights), pick a 3-4 s voice prompt per base voice from the validation split,
and write the manifest sections every stage reads (merged into an existing model.json, e.g. one the
codec export wrote).

    cd models/training && /usr/bin/python3 -m sstrain.bundle --out ../../models/default \\
        --semantic ../../runs/semantic/tokenizer.pt --soundstorm ../../runs/soundstorm/last.ckpt \\
        --t2s ../../runs/t2s/last.ckpt --corpus ../../data/corpus --tokens ../../data/tokens
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from .semantic.export import export_tokenizer
from .soundstorm.export import export_soundstorm, load_checkpoint
from .t2s.export import export_t2s
from .t2s.data import load_alignments
from .text import PAUSE, SILENT, SYMBOLS, SYMBOL_ID
from .tokens import load_tokenizer_module

BASE_VOICES = ["slt", "awb", "rms", "kal16"]


def voice_prompts(corpus: Path, tokens: Path, levels: int, lo: int = 70, hi: int = 100) -> dict[str, dict]:
    """A 3-4 s validation utterance per base voice: its phonemes and exactly the frames they cover."""
    aligned = load_alignments(tokens / "align.pkl")
    z = np.load(tokens / "valid.npz")
    ids = [str(x) for x in z["ids"]]
    ipa = {json.loads(l)["text"]: json.loads(l)["ipa"] for l in open(corpus / "phonemes.jsonl")}
    utts = {json.loads(l)["id"]: json.loads(l) for l in open(corpus / "valid.jsonl")}
    out = {}
    for v in BASE_VOICES:
        for i, uid in enumerate(ids):
            u, a = utts.get(uid), aligned.get(uid)
            if not u or not a or u["speaker"] != v:
                continue
            n = int(a.frames.sum())
            if not lo <= n <= hi:
                continue
            s0, off = a.start, int(z["sem_offsets"][i])
            sem = z["semantic"][off + s0: off + s0 + n]
            codes = z["codes"][2 * (off + s0): 2 * (off + s0 + n)]
            if len(sem) != n or len(codes) != 2 * n:
                continue
            out[v] = {"name": v, "description": f"flite voice cmu_us_{v}: {u['text']!r} ({n / 25:.2f} s, corpus {uid})",
                      "phonemes": ipa[u["text"]], "semantic": sem.astype(int).tolist(),
                      "acoustic": codes.astype(int).tolist()}
            break
        if v not in out:
            raise SystemExit(f"no validation utterance of {v} between {lo} and {hi} frames")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--semantic", required=True)
    ap.add_argument("--soundstorm", required=True)
    ap.add_argument("--t2s", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tokens", required=True)
    # level-1 iterations: 4 when there is time (slt's voice held better than with 1, BENCHMARKS.md),
    # one pass per level when a chunk is due soon; a 3 s tail (with 1 s, 60 s streams lost up to
    # 11 WER points against their sentences one by one; 3 s lost 1.3 fewer than 2 s, session 21)
    ap.add_argument("--schedule", default="4,1,1,1,1,1,1,1")
    ap.add_argument("--fast-schedule", default="1,1,1,1,1,1,1,1")
    ap.add_argument("--tail-frames", type=int, default=150)
    ap.add_argument("--max-window-frames", type=int, default=750)
    ap.add_argument("--fp32", action="store_true")
    # log P(symbol | unit) from sstrain.t2s.unit_prior, added to the token graph's logits at this weight
    ap.add_argument("--unit-prior", default="", help="a sstrain.t2s.unit_prior table to ship (copied as t2s_unit_prior.f32)")
    ap.add_argument("--unit-prior-weight", type=float, default=1.0)
    # log P(unit | level-1 code) from sstrain.soundstorm.level1_prior, added to SoundStorm's level-1 logits
    ap.add_argument("--level1-prior", default="", help="a sstrain.soundstorm.level1_prior table to ship (as soundstorm_level1_prior.f32)")
    ap.add_argument("--level1-prior-weight", type=float, default=1.0)
    # every phone keeps at least this many 40 ms frames (1 lost short sounds to rounding; 2 was better again, session 15)
    ap.add_argument("--min-frames-per-phone", type=int, default=2)
    # longer chunks go to text to semantic in word-bounded pieces: trained on targets of at most 120 frames,
    # about 87 symbols at 1.38 frames per symbol, it lost the ends of long sentences (session 17); trained up
    # to 240 frames, 80-symbol pieces still measure better than 160 (session 18); 0: no limit
    ap.add_argument("--max-input-symbols", type=int, default=80)
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    fp16 = not a.fp32
    graphs = {}

    tok = load_tokenizer_module(a.semantic)
    graphs["semantic_tokenizer"] = export_tokenizer(tok, out / "semantic_tokenizer.onnx", fp16)

    ss, ck = load_checkpoint(a.soundstorm)
    sc = ss.cfg
    graphs["soundstorm"] = export_soundstorm(ss, out / "soundstorm.onnx", fp16)

    t2s_graphs, tc, t2s_step = export_t2s(a.t2s, out, fp16)
    graphs.update(t2s_graphs)

    voices = voice_prompts(Path(a.corpus), Path(a.tokens), sc.levels)
    (out / "voices").mkdir(exist_ok=True)
    for v, d in voices.items():
        (out / "voices" / f"{v}.json").write_text(json.dumps(d, separators=(",", ":"), ensure_ascii=False) + "\n")

    mpath = out / "model.json"
    m = json.loads(mpath.read_text()) if mpath.exists() else {"format_version": 1, "name": out.name, "kind": "trained",
                                                               "description": "", "graphs": {}, "voices": {}}
    m["description"] = "Trained here from flite voices (codec, semantic tokenizer, SoundStorm, text-to-semantic); see MODEL_CARD.md."
    m["semantic"] = {"rate": 25, "vocab_size": tc.units, "repeat": 2}
    m["soundstorm"] = {"mask_id": sc.mask_id, "max_window_frames": a.max_window_frames, "tail_frames": a.tail_frames,
                       **({"cached_tail": True} if sc.isolated_tail else {}),
                       **({"tail_overlap_frames": sc.tail_overlap} if sc.isolated_tail and sc.tail_overlap else {})}
    if a.level1_prior:
        shutil.copyfile(a.level1_prior, out / "soundstorm_level1_prior.f32")
        m["soundstorm"]["level1_prior"] = {"file": "soundstorm_level1_prior.f32", "weight": a.level1_prior_weight}
    # every phone keeps a floor of frames: rounding short predicted durations to zero drops sounds
    m["text_to_semantic"] = {"min_frames_per_phoneme": 0, "max_frames_per_phoneme": 25, "context_phonemes": 48,
                             "log_duration_offset": tc.duration_offset, "min_frames_per_phone": a.min_frames_per_phone}
    if a.unit_prior:
        shutil.copyfile(a.unit_prior, out / "t2s_unit_prior.f32")
        m["text_to_semantic"]["unit_prior"] = {"file": "t2s_unit_prior.f32", "weight": a.unit_prior_weight}
    if a.max_input_symbols > 0:
        m["text_to_semantic"]["max_input_symbols"] = a.max_input_symbols
    m["text"] = {"phonemizer_language": "en-us", "symbols": SYMBOLS, "pad_id": SYMBOL_ID["<pad>"], "bos_id": SYMBOL_ID["<bos>"],
                 "eos_id": SYMBOL_ID["<eos>"], "unk_id": SYMBOL_ID["<unk>"], "word_separator": " ",
                 "silent_symbols": [s for s in SYMBOLS if s in SILENT or s in PAUSE]}
    m["decoding"] = {"schedule": [int(x) for x in a.schedule.split(",")], "fast_schedule": [int(x) for x in a.fast_schedule.split(",")], "temperature_start": 1.0, "temperature_end": 0.3,
                     "noise_scale": 4.5, "semantic_temperature": 0.0}
    m.setdefault("graphs", {}).update(graphs)
    m["voices"] = {v: f"voices/{v}.json" for v in voices}
    mpath.write_text(json.dumps(m, indent=2, ensure_ascii=False) + "\n")
    (out / "training.json").write_text(json.dumps({
        "semantic": {"step": torch.load(a.semantic, map_location="cpu")["step"], "config": tok.net.cfg.to_dict()},
        "soundstorm": {"step": ck["step"], "config": sc.to_dict()},
        "t2s": {"step": t2s_step, "config": tc.to_dict()}}, indent=1) + "\n")
    sizes = {p.name: round(p.stat().st_size / 1e6, 2) for p in out.glob("*.onnx")}
    print(json.dumps({"sizes_mb": sizes, "total_mb": round(sum(sizes.values()), 2), "voices": list(voices)}))


if __name__ == "__main__":
    main()
