"""Turn corpus audio into the token streams the generative models train on: codec codes (50 Hz, the
frozen encoder + quantizer) and semantic units (25 Hz), from the same audio padded to a multiple of
the semantic hop, so there are exactly two codec frames per unit. Resumable per split; shows progress.

    cd models/training && /usr/bin/python3 -m sstrain.tokens --corpus ../../data/corpus \\
        --codec ../../runs/codec-dec/last.ckpt --semantic ../../runs/semantic/tokenizer.pt --out ../../data/tokens
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .audio import PackedCorpus
from .codec.model import Codec, CodecConfig
from .runs import pick_device
from .semantic.model import PhoneNet, SemanticConfig, Tokenizer, TokenizerWithDistances, units_with_switch_penalty

CHUNK = 256  # utterances in memory at a time


def load_codec(path: str) -> Codec:
    ck = torch.load(path, map_location="cpu")
    m = Codec(CodecConfig(**ck["config"]))
    m.load_state_dict(ck["model"])
    return m.eval()


def load_tokenizer_module(path: str) -> Tokenizer:
    """The tokenizer of a training checkpoint (tokenizer.pt), as a PyTorch module (for export)."""
    ck = torch.load(path, map_location="cpu")
    net = PhoneNet(SemanticConfig(**ck["config"]))
    net.load_state_dict(ck["model"])
    return Tokenizer(net, ck["centroids"]).eval()


def load_tokenizer(path: str, threads: int = 1, switch_penalty: float | None = None
                   ) -> tuple[Callable[[np.ndarray], np.ndarray], int, int, float]:
    """-> (audio [S] -> units [S / hop], hop, number of units, switch penalty). A training checkpoint, or the exported
    semantic_tokenizer.onnx of a model set (through onnxruntime), so tokens can be rebuilt on a machine
    that has the committed model set but not the tokenizer's checkpoint. With a switch penalty (a
    checkpoint: `switch_penalty`; a model set: its manifest's semantic.switch_penalty) the units are the
    Viterbi path over the centroid distances (units_with_switch_penalty), as the server reads them."""
    if path.endswith(".onnx"):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        m = json.loads((Path(path).parent / "model.json").read_text())   # the contract: names, rates, vocabulary
        graph = m["graphs"]["semantic_tokenizer"]
        penalty = float(m["semantic"].get("switch_penalty", 0.0))
        if switch_penalty is not None and switch_penalty != penalty:
            raise SystemExit(f"{path}'s manifest decodes units with switch penalty {penalty}, not {switch_penalty}")
        inp = graph["inputs"]["audio"]["name"]
        out = graph["outputs"]["distances" if penalty > 0 else "units"]["name"]
        hop = m["audio"]["sample_rate"] // m["semantic"]["rate"]

        def run_onnx(x: np.ndarray) -> np.ndarray:
            r = sess.run([out], {inp: x[None].astype(np.float32)})[0][0]
            return units_with_switch_penalty(r, penalty) if penalty > 0 else r
        return run_onnx, hop, int(m["semantic"]["vocab_size"]), penalty
    tok = load_tokenizer_module(path)
    penalty = switch_penalty or 0.0
    with_distances = TokenizerWithDistances(tok)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            if penalty == 0:
                return tok(torch.from_numpy(x)[None])[0].numpy()
            return units_with_switch_penalty(with_distances(torch.from_numpy(x)[None])[1][0].numpy(), penalty)
    return run, tok.net.cfg.hop, int(tok.centroids.shape[0]), penalty


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--codec", required=True)
    ap.add_argument("--semantic", required=True, help="tokenizer.pt, or a model set's semantic_tokenizer.onnx")
    ap.add_argument("--out", required=True)
    ap.add_argument("--splits", default="train,valid,test")
    ap.add_argument("--max-utts", type=int, default=0, help="per split (0 = all); a seeded random subset")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--switch-penalty", type=float, default=None,
                    help="decode a tokenizer.pt's units as the path paying this per change of unit (default: each "
                         "frame's nearest centroid); a model set's tokenizer uses its manifest's semantic.switch_penalty")
    ap.add_argument("--device", default="auto", help="for the codec encoder")
    ap.add_argument("--workers", type=int, default=1,
                    help="threads running the semantic tokenizer side by side (on a many-core GPU machine it, not the "
                         "codec, is the slow part: one worker took 7 minutes for 19k utterances)")
    a = ap.parse_args(argv)
    dev = pick_device(a.device)
    torch.set_num_threads(a.threads)
    codec = load_codec(a.codec).to(dev)
    tok, hop, n_units, penalty = load_tokenizer(a.semantic, a.threads, a.switch_penalty)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(a.workers)   # onnxruntime and torch release the GIL while they compute
    for split in a.splits.split(","):
        dest = out / f"{split}.npz"
        if dest.exists():
            print(f"{split}: exists, skipped", flush=True)
            continue
        data = PackedCorpus(a.corpus, split)
        order = np.arange(len(data.utts))
        if a.max_utts and a.max_utts < len(order):
            order = np.sort(np.random.default_rng(0).permutation(len(order))[:a.max_utts])
        ids, sem, codes, sem_off, t0, k = [], [], [], [0], time.time(), 0

        def padded(i: int) -> np.ndarray:
            x = data.audio(data.utts[i])
            return np.pad(x, (0, -(-len(x) // hop) * hop - len(x)))

        for start in range(0, len(order), CHUNK):
            chunk = order[start:start + CHUNK]
            xs = [padded(i) for i in chunk]
            for i, x, units in zip(chunk, xs, pool.map(tok, xs)):
                units = units.astype(np.int16)
                c = codec.encode(torch.from_numpy(x)[None].to(dev))[0].cpu().numpy().astype(np.int16)   # [Q, 2n]
                assert c.shape[1] == 2 * len(units), (c.shape, len(units))
                ids.append(data.utts[i].id)
                sem.append(units)
                codes.append(c.T)
                sem_off.append(sem_off[-1] + len(units))
                k += 1
                if k % 500 == 0 or k == len(order):
                    el = time.time() - t0
                    print(f"{split}: {k}/{len(order)} utterances ({el:.0f} s, ~{el / k * (len(order) - k):.0f} s left)", flush=True)
        tmp = out / f"{split}.tmp.npz"
        np.savez(tmp, ids=np.array(ids), semantic=np.concatenate(sem), codes=np.concatenate(codes),
                 sem_offsets=np.array(sem_off, dtype=np.int64))
        tmp.rename(dest)
    pool.shutdown()
    (out / "meta.json").write_text(json.dumps({"codec": a.codec, "semantic": a.semantic, "hop": hop,
                                             "units": n_units, "switch_penalty": penalty}, indent=1))


if __name__ == "__main__":
    main()
