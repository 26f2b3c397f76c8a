"""Build the small RANDOM-WEIGHT fixture model set under models/fixture/.

These graphs honour the model contract (model.json) exactly but are NOT trained:
they exist so the TypeScript tests can exercise every mechanic (shapes, names,
decoding loop, streaming codec, Opus) without Python. The audio they produce is noise.

Run:  /usr/bin/python3 models/tools/make_fixture.py [--out models/fixture]
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
from torch import nn

torch.set_num_threads(2)

SAMPLE_RATE = 16000
HOP = 320  # 50 frames/s
LEVELS = 4
CODEBOOK = 64
SEM_VOCAB = 32
SEM_REPEAT = 2
WIDTH = 32
OPSET = 17

# IPA symbols espeak-ng emits for English, plus punctuation and specials.
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>", " "]
PUNCT = list(".,!?;:-'\"()")
IPA = list("abdefhijklmnoprstuvwxzæçðøŋœɐɑɒɔəɚɛɜɡɪɬɹɾʃʊʌʒʔθᵻ") + ["ˈ", "ˌ", "ː", "̩", "oʊ", "aɪ", "aʊ", "eɪ", "ɔɪ", "tʃ", "dʒ", "ɜː", "iə"]


class Embed(nn.Module):
    """A tiny mixer: embeddings + one bidirectional self-attention layer."""

    def __init__(self, width: int):
        super().__init__()
        self.qkv = nn.Linear(width, 3 * width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x, pad=None):
        """pad [B,T] bool: frames of right-padded rows that other frames must not attend to."""
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        s = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(q.shape[-1])
        if pad is not None:
            s = s.masked_fill(pad[:, None, :], -1e4)
        return self.norm(x + torch.matmul(torch.softmax(s, dim=-1), v))


class SoundStormFixture(nn.Module):
    def __init__(self):
        super().__init__()
        self.sem = nn.Embedding(SEM_VOCAB, WIDTH)
        self.ac = nn.ModuleList([nn.Embedding(CODEBOOK + 1, WIDTH) for _ in range(LEVELS)])
        self.mix = Embed(WIDTH)
        self.heads = nn.Parameter(torch.randn(LEVELS, WIDTH, CODEBOOK) * 0.5)

    def forward(self, semantic, acoustic, level, lengths, prompt_k, prompt_v, prompt_lengths):
        """The serving contract (sstrain/soundstorm/export.py): level [B] per row, lengths [B] valid
        frames, a cached voice prompt's keys/values [1,B,1,P,WIDTH] (one layer, one head) that the
        window attends to; returns the logits and this window's own keys/values."""
        x = self.sem(semantic)
        for q in range(LEVELS):
            x = x + self.ac[q](acoustic[:, :, q])
        q_, k, v = self.mix.qkv(x).chunk(3, dim=-1)
        valid = torch.arange(semantic.shape[1])[None, :] < lengths[:, None]
        keys_ok = torch.arange(prompt_k.shape[3])[None, :] < prompt_lengths[:, None]
        allowed = torch.cat([keys_ok, valid], 1)[:, None, :]
        ka, va = torch.cat([prompt_k[0, :, 0], k], 1), torch.cat([prompt_v[0, :, 0], v], 1)
        s = torch.matmul(q_, ka.transpose(1, 2)) / math.sqrt(WIDTH)
        x = self.mix.norm(x + torch.matmul(torch.softmax(s.masked_fill(~allowed, -1e4), -1), va))
        return torch.matmul(x, self.heads[level]) * 3.0, k[None, :, None], v[None, :, None]

    def prompt_cache(self, semantic, acoustic):
        """[1,1,1,P,WIDTH] keys and values of one prompt (semantic [P], acoustic [P,Q])."""
        empty = torch.zeros(1, 1, 1, 1, WIDTH)
        _, k, v = self(semantic[None], acoustic[None], torch.zeros(1, dtype=torch.long), torch.tensor([semantic.shape[0]]),
                       empty, empty, torch.zeros(1, dtype=torch.long))
        return k, v


class DurationFixture(nn.Module):
    def __init__(self, n_symbols: int):
        super().__init__()
        self.ph = nn.Embedding(n_symbols, WIDTH)
        self.sem = nn.Embedding(SEM_VOCAB, WIDTH)
        self.out = nn.Linear(WIDTH, 1)

    def forward(self, phonemes, prompt_phonemes, prompt_semantic):
        ctx = self.ph(prompt_phonemes).mean(1, keepdim=True) + self.sem(prompt_semantic).mean(1, keepdim=True)
        h = self.ph(phonemes) + ctx
        # log-durations around log(2.5) frames (25 Hz), i.e. ~100 ms per phoneme
        return torch.tanh(self.out(h).squeeze(-1)) * 0.4 + math.log(2.5)


class TokensFixture(nn.Module):
    def __init__(self, n_symbols: int):
        super().__init__()
        self.ph = nn.Embedding(n_symbols, WIDTH)
        self.sem = nn.Embedding(SEM_VOCAB, WIDTH)
        self.pos = nn.Linear(1, WIDTH)
        self.mix = Embed(WIDTH)
        self.out = nn.Linear(WIDTH, SEM_VOCAB)

    def forward(self, frame_phonemes, frame_position, prompt_phonemes, prompt_semantic):
        ctx = self.ph(prompt_phonemes).mean(1, keepdim=True) + self.sem(prompt_semantic).mean(1, keepdim=True)
        h = self.ph(frame_phonemes) + self.pos(frame_position.unsqueeze(-1)) + ctx
        return self.out(self.mix(h)) * 3.0


class CodecDecoderFixture(nn.Module):
    """Codes -> waveform with a short receptive field (conv k=3 then frame-wise upsampling)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.ModuleList([nn.Embedding(CODEBOOK, WIDTH) for _ in range(LEVELS)])
        self.conv = nn.Conv1d(WIDTH, WIDTH, 3, padding=1)
        self.up = nn.ConvTranspose1d(WIDTH, 1, HOP, stride=HOP)

    def forward(self, codes):
        x = self.emb[0](codes[:, 0])
        for q in range(1, LEVELS):
            x = x + self.emb[q](codes[:, q])
        x = torch.tanh(self.conv(x.transpose(1, 2)))
        return torch.tanh(self.up(x)).squeeze(1) * 0.3


class CodecEncoderFixture(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv1d(1, WIDTH, HOP, stride=HOP)
        self.books = nn.Parameter(torch.randn(LEVELS, CODEBOOK, WIDTH))

    def forward(self, audio):
        z = self.down(audio.unsqueeze(1)).transpose(1, 2)  # B,T,W
        codes = []
        for q in range(LEVELS):
            d = torch.cdist(z, self.books[q].unsqueeze(0).expand(z.shape[0], -1, -1))
            idx = d.argmin(-1)
            codes.append(idx)
            z = z - self.books[q][idx]
        return torch.stack(codes, 1)


class SemanticTokenizerFixture(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv1d(1, SEM_VOCAB, HOP * SEM_REPEAT, stride=HOP * SEM_REPEAT)

    def forward(self, audio):
        return self.down(audio.unsqueeze(1)).argmax(1)


def io(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": shape}


def export(model, args, path: Path, inputs: dict, outputs: dict):
    dyn = {spec["name"]: {i: d for i, d in enumerate(spec["shape"]) if isinstance(d, str)}
           for spec in list(inputs.values()) + list(outputs.values())}
    dyn = {k: v for k, v in dyn.items() if v}
    torch.onnx.export(model, args, str(path), opset_version=OPSET,
                      input_names=[s["name"] for s in inputs.values()],
                      output_names=[s["name"] for s in outputs.values()],
                      dynamic_axes=dyn)
    return {"file": path.name, "inputs": inputs, "outputs": outputs}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "fixture"))
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(a.seed)
    symbols = SPECIALS + PUNCT + IPA
    graphs = {}
    with torch.no_grad():
        T = 20
        kv = torch.zeros(1, 2, 1, 6, WIDTH)
        graphs["soundstorm"] = export(
            SoundStormFixture().eval(),
            (torch.zeros(2, T, dtype=torch.long), torch.full((2, T, LEVELS), CODEBOOK, dtype=torch.long),
             torch.tensor([0, 1], dtype=torch.long), torch.tensor([T, T - 3], dtype=torch.long), kv, kv.clone(),
             torch.tensor([6, 2], dtype=torch.long)),
            out / "soundstorm.onnx",
            {"semantic": io("semantic", "int64", ["batch", "frames"]),
             "acoustic": io("acoustic", "int64", ["batch", "frames", LEVELS]),
             "level": io("level", "int64", ["batch"]),
             "lengths": io("lengths", "int64", ["batch"]),
             "prompt_k": io("prompt_k", "float32", [1, "batch", 1, "prompt_frames", WIDTH]),
             "prompt_v": io("prompt_v", "float32", [1, "batch", 1, "prompt_frames", WIDTH]),
             "prompt_lengths": io("prompt_lengths", "int64", ["batch"])},
            {"logits": io("logits", "float32", ["batch", "frames", CODEBOOK]),
             "k": io("k", "float32", [1, "batch", 1, "frames", WIDTH]),
             "v": io("v", "float32", [1, "batch", 1, "frames", WIDTH])})
        P, Pp, Tp = 7, 5, 9
        graphs["t2s_duration"] = export(
            DurationFixture(len(symbols)).eval(),
            (torch.ones(1, P, dtype=torch.long), torch.ones(1, Pp, dtype=torch.long), torch.zeros(1, Tp, dtype=torch.long)),
            out / "t2s_duration.onnx",
            {"phonemes": io("phonemes", "int64", ["batch", "phonemes"]),
             "prompt_phonemes": io("prompt_phonemes", "int64", ["batch", "prompt_phonemes"]),
             "prompt_semantic": io("prompt_semantic", "int64", ["batch", "prompt_frames"])},
            {"log_durations": io("log_durations", "float32", ["batch", "phonemes"])})
        graphs["t2s_tokens"] = export(
            TokensFixture(len(symbols)).eval(),
            (torch.ones(1, T, dtype=torch.long), torch.zeros(1, T), torch.ones(1, Pp, dtype=torch.long),
             torch.zeros(1, Tp, dtype=torch.long)),
            out / "t2s_tokens.onnx",
            {"frame_phonemes": io("frame_phonemes", "int64", ["batch", "frames"]),
             "frame_position": io("frame_position", "float32", ["batch", "frames"]),
             "prompt_phonemes": io("prompt_phonemes", "int64", ["batch", "prompt_phonemes"]),
             "prompt_semantic": io("prompt_semantic", "int64", ["batch", "prompt_frames"])},
            {"logits": io("logits", "float32", ["batch", "frames", SEM_VOCAB])})
        graphs["codec_decoder"] = export(
            CodecDecoderFixture().eval(), (torch.zeros(1, LEVELS, T, dtype=torch.long),),
            out / "codec_decoder.onnx",
            {"codes": io("codes", "int64", ["batch", LEVELS, "frames"])},
            {"audio": io("audio", "float32", ["batch", "samples"])})
        graphs["codec_encoder"] = export(
            CodecEncoderFixture().eval(), (torch.zeros(1, T * HOP),),
            out / "codec_encoder.onnx",
            {"audio": io("audio", "float32", ["batch", "samples"])},
            {"codes": io("codes", "int64", ["batch", LEVELS, "frames"])})
        graphs["semantic_tokenizer"] = export(
            SemanticTokenizerFixture().eval(), (torch.zeros(1, T * HOP),),
            out / "semantic_tokenizer.onnx",
            {"audio": io("audio", "float32", ["batch", "samples"])},
            {"units": io("units", "int64", ["batch", "semantic_frames"])})

    gen = torch.Generator().manual_seed(a.seed + 1)
    # a second decoder of the same contract with other weights, for tests of codec.voice_decoders (they name it
    # in a copy of this manifest; this set's own streams never use it). Seeded on its own, so adding it left every
    # other file of the set as it was.
    torch.manual_seed(a.seed + 2)
    with torch.no_grad():
        export(CodecDecoderFixture().eval(), (torch.zeros(1, LEVELS, T, dtype=torch.long),), out / "codec_decoder_voice.onnx",
               {"codes": io("codes", "int64", ["batch", LEVELS, "frames"])}, {"audio": io("audio", "float32", ["batch", "samples"])})
    voices = {}
    (out / "voices").mkdir(exist_ok=True)
    for name in ["slt", "awb", "rms", "kal16"]:
        frames = 150  # 3 s at 50 frames/s
        voice = {
            "name": name,
            "description": f"fixture voice '{name}' (random tokens, not a real speaker)",
            "phonemes": "ðɪs ɪz ɐ tˈɛst",
            "semantic": torch.randint(0, SEM_VOCAB, (frames // SEM_REPEAT,), generator=gen).tolist(),
            "acoustic": torch.randint(0, CODEBOOK, (frames, LEVELS), generator=gen).tolist(),
        }
        (out / "voices" / f"{name}.json").write_text(json.dumps(voice, separators=(",", ":")) + "\n")
        voices[name] = f"voices/{name}.json"

    manifest = {
        "format_version": 1,
        "name": "fixture",
        "kind": "fixture",
        "description": "RANDOM-WEIGHT FIXTURE for tests of mechanics. Not trained; it produces noise.",
        "audio": {"sample_rate": SAMPLE_RATE, "hop_length": HOP, "frame_rate": SAMPLE_RATE // HOP},
        "codec": {"levels": LEVELS, "codebook_size": CODEBOOK,
                  "decoder_left_context_frames": 4, "decoder_right_context_frames": 2},
        "semantic": {"rate": 25, "vocab_size": SEM_VOCAB, "repeat": SEM_REPEAT},
        "soundstorm": {"mask_id": CODEBOOK, "max_window_frames": 1500, "tail_frames": 100},
        "text_to_semantic": {"min_frames_per_phoneme": 1, "max_frames_per_phoneme": 12, "context_phonemes": 48},
        "text": {"phonemizer_language": "en-us", "symbols": symbols, "pad_id": 0, "bos_id": 1, "eos_id": 2,
                 "unk_id": 3, "word_separator": " "},
        "decoding": {"schedule": [8, 1, 1, 1], "temperature_start": 1.0, "temperature_end": 0.2,
                     "noise_scale": 4.5, "semantic_temperature": 0.0},
        "graphs": graphs,
        "voices": voices,
    }
    (out / "model.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote fixture model set to {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
