"""Export a trained codec checkpoint to ONNX (encoder and decoder per the model contract) and write
the codec section of a model manifest.

    cd models/training && /usr/bin/python3 -m sstrain.codec.export --ckpt ../../runs/codec/last.ckpt --out ../../models/default

With --voice NAME only the decoder is exported, as codec_decoder_NAME.onnx, and the manifest's
codec.voice_decoders names it for that voice (a decoder fine-tuned on the voice's own recordings with the
encoder frozen, `sstrain.codec.train --freeze-encoder --share-speakers NAME --base-share P`): the shared
decoder, the encoder and the rest of the codec section stay as they are.

Trained weights are stored as float16 with a Cast to float32 in the graph (onnxruntime folds the casts at
load), halving the files; the arithmetic stays float32, and computed buffers (the STFT basis, the mel
filterbank) stay float32 so the encoder's codes equal the ones PyTorch gives in training.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, helper, TensorProto
import torch
from torch import nn

from .model import Codec, CodecConfig

OPSET = 17


class _Dec(nn.Module):
    def __init__(self, m: Codec):
        super().__init__()
        self.m = m

    def forward(self, codes):
        return self.m.decode(codes)


class _Enc(nn.Module):
    def __init__(self, m: Codec):
        super().__init__()
        self.m = m

    def forward(self, audio):
        return self.m.encode(audio)


def fp16_weights(path: Path, min_elems: int = 1024) -> None:
    """Store large float32 initializers (the trained weights) as float16 followed by a Cast back to float32.

    Constant nodes stay float32: they are computed buffers (STFT bases, mel filterbanks) that training
    used in full precision, and rounding them moved the ONNX encoder's codes away from PyTorch's."""
    model = onnx.load(str(path))
    g = model.graph
    new_inits, casts = [], []
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT and np.prod(init.dims) >= min_elems:
            arr = numpy_helper.to_array(init).astype(np.float16)
            h = numpy_helper.from_array(arr, init.name + "_fp16")
            new_inits.append(h)
            casts.append(helper.make_node("Cast", [h.name], [init.name], to=TensorProto.FLOAT, name=init.name + "_cast"))
        else:
            new_inits.append(init)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def add_absent_rows(path: Path, levels: int, codebook: int) -> None:
    """Give each of the decoder graph's codebooks one more row, of zeros, at index `codebook`: that
    code then means "level not generated" and adds nothing to the frame's latent, which is what the
    quantizer-dropout-trained decoder saw for the levels it dropped (manifest codec.absent_code)."""
    model = onnx.load(str(path))
    want = {f"m.quantizer.books.{q}.embed{suffix}" for q in range(levels) for suffix in ("", "_fp16")}
    found = 0
    for init in model.graph.initializer:
        if init.name not in want:
            continue
        arr = numpy_helper.to_array(init)
        if arr.shape[0] != codebook:
            raise RuntimeError(f"{path}: {init.name} has {arr.shape[0]} rows, expected {codebook} (absent rows already added?)")
        init.CopyFrom(numpy_helper.from_array(np.concatenate([arr, np.zeros((1, arr.shape[1]), arr.dtype)]), init.name))
        found += 1
    if found != levels:
        raise RuntimeError(f"{path}: found {found} codebooks, expected {levels}")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def stored_initializers(path: Path) -> dict[str, np.ndarray]:
    """A graph's initializers by name, as stored; those fp16_weights moved to float16 under their original
    name (the values are the float16 ones)."""
    out = {}
    for init in onnx.load(str(path)).graph.initializer:
        name = init.name[:-len("_fp16")] if init.name.endswith("_fp16") else init.name
        out[name] = numpy_helper.to_array(init)
    return out


def io(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": shape}


def _load(ckpt: Path) -> tuple[dict, CodecConfig, Codec]:
    ck = torch.load(ckpt, map_location="cpu")
    cfg = CodecConfig(**ck["config"])
    m = Codec(cfg)
    m.load_state_dict(ck["model"])
    m.eval()
    return ck, cfg, m


def _export_decoder(m: Codec, cfg: CodecConfig, path: Path, fp16: bool, T: int = 50) -> None:
    with torch.no_grad():
        torch.onnx.export(_Dec(m), (torch.zeros(1, cfg.levels, T, dtype=torch.long),), str(path),
                          opset_version=OPSET, input_names=["codes"], output_names=["audio"], do_constant_folding=False,
                          dynamic_axes={"codes": {0: "batch", 2: "frames"}, "audio": {0: "batch", 1: "samples"}})
    if fp16:
        fp16_weights(path)
    add_absent_rows(path, cfg.levels, cfg.codebook_size)


def export_voice_decoder(ckpt: Path, out: Path, voice: str, fp16: bool = True) -> dict:
    """The decoder alone, as `out`/codec_decoder_<voice>.onnx; the manifest's codec section must match it."""
    ck, cfg, m = _load(ckpt)
    mpath = out / "model.json"
    manifest = json.loads(mpath.read_text())
    codec = manifest["codec"]
    if voice not in manifest.get("voices", {}):
        raise SystemExit(f"{mpath} has no voice '{voice}'")
    want = {"levels": cfg.levels, "codebook_size": cfg.codebook_size,
            "decoder_left_context_frames": m.decoder.left_context, "decoder_right_context_frames": m.decoder.right_context}
    if any(codec.get(k) != v for k, v in want.items()):
        raise SystemExit(f"checkpoint's decoder {want} does not fit {mpath}'s codec section {codec}")
    file = f"codec_decoder_{voice}.onnx"
    _export_decoder(m, cfg, out / file, fp16)
    codec.setdefault("voice_decoders", {})[voice] = file
    mpath.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    tpath = out / "codec_training.json"
    training = json.loads(tpath.read_text()) if tpath.exists() else {}
    training.setdefault("voice_decoders", {})[voice] = {"step": ck["step"], "config": cfg.to_dict()}
    tpath.write_text(json.dumps(training, indent=1) + "\n")
    return {"voice": voice, "file": file, "exported_step": ck["step"], "size_mb": round((out / file).stat().st_size / 1e6, 2)}


def export(ckpt: Path, out: Path, fp16: bool = True) -> dict:
    ck, cfg, m = _load(ckpt)
    out.mkdir(parents=True, exist_ok=True)
    T = 50
    _export_decoder(m, cfg, out / "codec_decoder.onnx", fp16, T)
    with torch.no_grad():
        torch.onnx.export(_Enc(m), (torch.zeros(1, T * cfg.hop),), str(out / "codec_encoder.onnx"),
                          opset_version=OPSET, input_names=["audio"], output_names=["codes"], do_constant_folding=False,
                          dynamic_axes={"audio": {0: "batch", 1: "samples"}, "codes": {0: "batch", 2: "frames"}})
    if fp16:
        fp16_weights(out / "codec_encoder.onnx")
    graphs = {
        "codec_decoder": {"file": "codec_decoder.onnx", "inputs": {"codes": io("codes", "int64", ["batch", cfg.levels, "frames"])},
                          "outputs": {"audio": io("audio", "float32", ["batch", "samples"])}},
        "codec_encoder": {"file": "codec_encoder.onnx", "inputs": {"audio": io("audio", "float32", ["batch", "samples"])},
                          "outputs": {"codes": io("codes", "int64", ["batch", cfg.levels, "frames"])}},
    }
    codec = {"levels": cfg.levels, "codebook_size": cfg.codebook_size, "absent_code": cfg.codebook_size,
             "decoder_left_context_frames": m.decoder.left_context, "decoder_right_context_frames": m.decoder.right_context}
    audio = {"sample_rate": cfg.sample_rate, "hop_length": cfg.hop, "frame_rate": cfg.sample_rate // cfg.hop}
    return {"graphs": graphs, "codec": codec, "audio": audio, "step": ck["step"], "config": cfg.to_dict()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True, help="model directory; its model.json gets the codec entries merged in")
    ap.add_argument("--fp32", action="store_true")
    ap.add_argument("--voice", default=None, help="export the decoder only, as this voice's own (codec.voice_decoders)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.voice:
        print(json.dumps(export_voice_decoder(Path(a.ckpt), out, a.voice, fp16=not a.fp32)))
        return
    info = export(Path(a.ckpt), out, fp16=not a.fp32)
    mpath = out / "model.json"
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {
        "format_version": 1, "name": out.name, "kind": "trained",
        "description": "Trained here from flite voices; see MODEL_CARD.md", "graphs": {}, "voices": {}}
    manifest["audio"] = info["audio"]
    own = manifest.get("codec", {}).get("voice_decoders")
    manifest["codec"] = info["codec"]
    if own:
        # voices' own decoders read the codes of the encoder they were fine-tuned on: kept, and said so
        manifest["codec"]["voice_decoders"] = own
        print(f"kept codec.voice_decoders {own}: re-export them if this checkpoint's codes differ", flush=True)
    manifest.setdefault("graphs", {}).update(info["graphs"])
    mpath.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    tpath = out / "codec_training.json"
    kept = json.loads(tpath.read_text()).get("voice_decoders") if (own and tpath.exists()) else None
    tpath.write_text(json.dumps({"step": info["step"], "config": info["config"],
                                 **({"voice_decoders": kept} if kept else {})}, indent=1) + "\n")
    sizes = {f: round((out / f).stat().st_size / 1e6, 2) for f in ("codec_encoder.onnx", "codec_decoder.onnx")}
    print(json.dumps({"exported_step": info["step"], "sizes_mb": sizes, "codec": info["codec"]}))


if __name__ == "__main__":
    main()
