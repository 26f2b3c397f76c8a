"""Move trained weights through a channel that limits file sizes (a lent GPU machine returns files of at
most 16 MiB): `pack` writes a run's model weights as float16 parts of at most --max-mib each, `merge`
puts them back into a checkpoint the export scripts read.

    python3 -m sstrain.parts pack --run runs/ss4 --out $OUT                      # on the GPU machine
    /usr/bin/python3 -m sstrain.parts merge --out runs/ss4/last.ckpt PARTS...   # here
    /usr/bin/python3 -m sstrain.parts merge --base runs/codec-onnx/init.ckpt --out runs/dec/last.ckpt PARTS...
      (--base: a full checkpoint whose weights the parts replace, e.g. a decoder-only pack with --prefix decoder.)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def pack(run: Path, out: Path, prefix: str = "", max_mib: float = 15.0) -> list[Path]:
    ck = torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in ck["model"].items() if k.startswith(prefix)}
    parts: list[dict] = [{}]
    size = 0
    for k, v in sd.items():
        n = v.numel() * v.element_size()
        if parts[-1] and size + n > max_mib * 2**20:
            parts.append({})
            size = 0
        parts[-1][k] = v
        size += n
    paths = []
    for i, p in enumerate(parts):
        path = out / f"{run.name}.part{i}.pt"
        torch.save({"model": p, "config": ck["config"], "step": ck["step"], "part": i, "of": len(parts)}, path)
        paths.append(path)
    return paths


def merge(parts: list[Path], out: Path, base: Path | None = None) -> dict:
    got = [torch.load(p, map_location="cpu") for p in parts]
    if sorted(g["part"] for g in got) != list(range(got[0]["of"])):
        raise ValueError(f"parts {[g['part'] for g in got]} of {got[0]['of']}: some are missing")
    model = dict(torch.load(base, map_location="cpu")["model"]) if base else {}
    for g in got:
        model.update({k: (v.float() if v.is_floating_point() else v) for k, v in g["model"].items()})
    ck = {"model": model, "config": got[0]["config"], "step": got[0]["step"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, out)
    return {"out": str(out), "step": ck["step"], "tensors": len(model)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--prefix", default="", help="only weights whose names start with this (e.g. decoder.)")
    p.add_argument("--max-mib", type=float, default=15.0)
    m = sub.add_parser("merge")
    m.add_argument("parts", nargs="+")
    m.add_argument("--out", required=True)
    m.add_argument("--base", default=None)
    a = ap.parse_args(argv)
    if a.cmd == "pack":
        paths = pack(Path(a.run), Path(a.out), a.prefix, a.max_mib)
        print(json.dumps({"run": a.run, "parts": [str(x) for x in paths]}))
    else:
        print(json.dumps(merge([Path(x) for x in a.parts], Path(a.out), Path(a.base) if a.base else None)))


if __name__ == "__main__":
    main()
