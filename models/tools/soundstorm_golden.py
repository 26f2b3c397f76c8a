"""Golden file for the SoundStorm decoding parity test: the Python reference decoder
(sstrain/soundstorm/decode.py) run greedily on the fixture's SoundStorm, rebuilt from the same
seed make_fixture.py uses, so CI can check the TypeScript decoder without PyTorch.

    /usr/bin/python3 models/tools/soundstorm_golden.py --out test/golden/soundstorm-fixture.json
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
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model = fx.SoundStormFixture().eval()   # first module make_fixture builds after seeding
    rng = np.random.default_rng(7)
    cases = []
    for prompt, new, schedule in ((12, 30, [8, 1, 1, 1]), (0, 25, [4, 2, 1, 1]), (20, 40, [16, 1, 1, 1])):
        T = prompt + new
        sem = rng.integers(0, fx.SEM_VOCAB, T)
        tokens = np.full((T, fx.LEVELS), fx.CODEBOOK, dtype=np.int64)
        tokens[:prompt] = rng.integers(0, fx.CODEBOOK, (prompt, fx.LEVELS))

        def predict(level, grid):
            with torch.no_grad():
                out = model(torch.from_numpy(sem)[None], torch.from_numpy(grid)[None], torch.tensor([level]))
            return out[0].numpy()

        filled, passes = decode_greedy(tokens, fx.CODEBOOK, schedule, predict)
        cases.append({"semantic": sem.tolist(), "prompt_frames": prompt,
                      "prompt_acoustic": tokens[:prompt].reshape(-1).tolist(), "schedule": schedule,
                      "expected": filled[prompt:].reshape(-1).tolist(), "passes": passes})
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"model": "fixture", "mask_id": fx.CODEBOOK, "levels": fx.LEVELS,
                                       "cases": cases}) + "\n")
    print(f"wrote {len(cases)} cases to {a.out}")


if __name__ == "__main__":
    main()
