"""Golden file for the SoundStorm decoding parity test: the Python reference decoder
(sstrain/soundstorm/decode.py) run greedily on the fixture's SoundStorm, rebuilt from the same
seed make_fixture.py uses, so CI can check the TypeScript decoder without PyTorch.

    /usr/bin/python3 models/tools/soundstorm_golden.py --out test/golden/soundstorm-fixture.json
    # a trained model: its checkpoint and the ONNX set exported from it
    /usr/bin/python3 models/tools/soundstorm_golden.py --ckpt runs/soundstorm/last.ckpt --out /tmp/golden.json
    SOUNDSTORM_PARITY_MODEL=models/default SOUNDSTORM_PARITY_GOLDEN=/tmp/golden.json node --test dist/test/soundstorm-parity.test.js
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "training"))
import make_fixture as fx  # noqa: E402
from sstrain.soundstorm.decode import decode_greedy  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1234, help="make_fixture.py's seed")
    ap.add_argument("--ckpt", help="a trained SoundStorm checkpoint instead of the fixture")
    ap.add_argument("--tokens", default="data/tokens", help="with --ckpt: real semantic/acoustic tokens to prompt with")
    a = ap.parse_args()
    if a.ckpt:
        from sstrain.soundstorm.model import SoundStorm, SoundStormConfig
        ck = torch.load(a.ckpt, map_location="cpu")
        cfg = SoundStormConfig(**ck["config"])
        model = SoundStorm(cfg).eval()
        model.load_state_dict(ck["model"])
        with torch.no_grad():  # the ONNX file stores large weights as float16: use exactly those values
            for prm in model.parameters():
                if prm.numel() >= 1024:
                    prm.copy_(prm.half().float())
        levels, codebook, vocab, name = cfg.levels, cfg.codebook, cfg.semantic_vocab, "trained"
        z = np.load(Path(a.tokens) / "valid.npz")
        real = (np.repeat(z["semantic"][:400].astype(np.int64), 2), z["codes"][:800].astype(np.int64))
        shapes = ((150, 100, [8] + [1] * (levels - 1)), (150, 60, [16] + [1] * (levels - 1)), (100, 80, [4, 2] + [1] * (levels - 2)))
    else:
        torch.manual_seed(a.seed)
        model = fx.SoundStormFixture().eval()   # first module make_fixture builds after seeding
        levels, codebook, vocab, name, real = fx.LEVELS, fx.CODEBOOK, fx.SEM_VOCAB, "fixture", None
        shapes = ((12, 30, [8, 1, 1, 1]), (0, 25, [4, 2, 1, 1]), (20, 40, [16, 1, 1, 1]))
    rng = np.random.default_rng(7)
    cases = []
    for prompt, new, schedule in shapes:
        T = prompt + new
        tokens = np.full((T, levels), codebook, dtype=np.int64)
        if real is not None:
            s0 = int(rng.integers(0, len(real[0]) - T))
            sem = real[0][s0:s0 + T]
            tokens[:prompt] = real[1][s0:s0 + prompt]
        else:
            sem = rng.integers(0, vocab, T)
            tokens[:prompt] = rng.integers(0, codebook, (prompt, levels))

        def predict(level, grid):
            with torch.no_grad():
                out = model(torch.from_numpy(sem)[None], torch.from_numpy(grid)[None], torch.tensor([level]))
            return out[0].numpy()

        filled, passes = decode_greedy(tokens, codebook, schedule, predict)
        cases.append({"semantic": sem.tolist(), "prompt_frames": prompt,
                      "prompt_acoustic": tokens[:prompt].reshape(-1).tolist(), "schedule": schedule,
                      "expected": filled[prompt:].reshape(-1).tolist(), "passes": passes})
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"model": name, "mask_id": codebook, "levels": levels,
                                       "cases": cases}) + "\n")
    print(f"wrote {len(cases)} cases to {a.out}")


if __name__ == "__main__":
    main()
