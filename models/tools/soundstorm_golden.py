"""Golden file for the SoundStorm decoding parity test: the Python reference decoder
(sstrain/soundstorm/decode.py) run greedily on the fixture's SoundStorm, rebuilt from the same
seed make_fixture.py uses, so CI can check the TypeScript decoder without PyTorch.

Each case is a voice prompt, a tail (unmasked frames of the window) and new frames. For a trained
model the reference runs the training form (the whole sequence, the voice prompt isolated by the
attention mask), so the TypeScript path with cached prompt states is checked against it too.

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
        # (voice prompt, tail, new frames, schedule)
        shapes = ((148, 60, 100, [8] + [1] * (levels - 1)), (150, 0, 60, [16] + [1] * (levels - 1)),
                  (100, 100, 80, [4, 2] + [1] * (levels - 2)))
    else:
        torch.manual_seed(a.seed)
        model = fx.SoundStormFixture().eval()   # first module make_fixture builds after seeding
        levels, codebook, vocab, name, real = fx.LEVELS, fx.CODEBOOK, fx.SEM_VOCAB, "fixture", None
        shapes = ((12, 6, 30, [8, 1, 1, 1]), (0, 0, 25, [4, 2, 1, 1]), (20, 0, 40, [16, 1, 1, 1]), (9, 14, 5, [2, 2, 1, 1]))
    rng = np.random.default_rng(7)
    cases = []
    for prompt, tail, new, schedule in shapes:
        if real is not None:
            s0 = int(rng.integers(0, len(real[0]) - prompt))
            vsem, vac = real[0][s0:s0 + prompt], real[1][s0:s0 + prompt]
            s1 = int(rng.integers(0, len(real[0]) - tail - new))
            sem, ac = real[0][s1:s1 + tail + new], real[1][s1:s1 + tail + new]
        else:
            vsem, vac = rng.integers(0, vocab, prompt), rng.integers(0, codebook, (prompt, levels))
            sem, ac = rng.integers(0, vocab, tail + new), rng.integers(0, codebook, (tail + new, levels))
        tokens = np.full((tail + new, levels), codebook, dtype=np.int64)
        tokens[:tail] = ac[:tail]

        if real is not None:
            def predict(level, grid):  # training form: voice prompt + window as one sequence
                s = torch.from_numpy(np.concatenate([vsem, sem]))[None]
                g = torch.from_numpy(np.concatenate([vac, grid]))[None]
                with torch.no_grad():
                    # a cached-tail model: the tail attends only to the prompt and itself, as served
                    pre = torch.tensor([prompt])
                    h = model.hidden(s, g, None, pre, model.isolated_tail_end(pre, torch.tensor([prompt + tail])))
                    out = model.logits_at(h, torch.tensor([level]))
                return out[0, prompt:].numpy()
        else:
            with torch.no_grad():
                pk, pv = model.prompt_cache(torch.from_numpy(vsem), torch.from_numpy(vac)) if prompt else (torch.zeros(1, 1, 1, 1, fx.WIDTH),) * 2

            def predict(level, grid):
                T = grid.shape[0]
                with torch.no_grad():
                    out, _, _ = model(torch.from_numpy(sem)[None], torch.from_numpy(grid)[None], torch.tensor([level]),
                                      torch.tensor([T]), pk, pv, torch.tensor([prompt]))
                return out[0].numpy()

        filled, passes = decode_greedy(tokens, codebook, schedule, predict)
        cases.append({"voice_semantic": vsem.tolist(), "voice_acoustic": vac.reshape(-1).tolist(),
                      "tail_semantic": sem[:tail].tolist(), "tail_acoustic": tokens[:tail].reshape(-1).tolist(),
                      "semantic": sem[tail:].tolist(), "schedule": schedule,
                      "expected": filled[tail:].reshape(-1).tolist(), "passes": passes})
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"model": name, "mask_id": codebook, "levels": levels,
                                       "cases": cases}) + "\n")
    print(f"wrote {len(cases)} cases to {a.out}")


if __name__ == "__main__":
    main()
