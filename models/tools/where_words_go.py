"""Where an end-to-end run loses its words, from `soundstorm eval e2e --transcripts` reports.

For each voice, ours against flite's audio of the same sentences: word errors by quarter of the sentence,
by sentence length, next to internal punctuation or not, and how concentrated the excess errors are
(how many of them the worst sentences carry). A reference word counts as wrong when the alignment
deletes or substitutes it, or inserts a word before it; the normalisation is src/eval/wer.ts's.

    python3 models/tools/where_words_go.py REPORT.json [REPORT.json ...]

Standard library only (any python3).
"""
from __future__ import annotations

import argparse
import json
import re


def words(text: str) -> list[str]:
    """src/eval/wer.ts normalizeWords: lowercase, pocketsphinx alternates folded, punctuation dropped."""
    t = re.sub(r"[^a-z0-9' ]+", " ", re.sub(r"\(\d+\)", "", text.lower()))
    return [w for w in t.split() if w and w != "'"]


def wrong_words(ref: list[str], hyp: list[str]) -> list[int]:
    """Per reference word: 1 when the Levenshtein alignment deletes or substitutes it, plus the
    insertions just before it (insertions after the last word go to the last word)."""
    n, m = len(ref), len(hyp)
    d = [[i + j if i == 0 or j == 0 else 0 for j in range(m + 1)] for i in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]))
    out = [0] * n
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i][j] == d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            out[i - 1] += int(ref[i - 1] != hyp[j - 1])
            i, j = i - 1, j - 1
        elif i > 0 and d[i][j] == d[i - 1][j] + 1:
            out[i - 1] += 1
            i -= 1
        else:
            out[max(0, i - 1)] += 1
            j -= 1
    return out


def near_punctuation(text: str) -> list[bool] | None:
    """Per reference word: within one word before or two after a word ending in internal punctuation
    (or hyphenated). None when the text's words do not map one to one onto its normalised words."""
    flags: list[bool] = []
    for tok in text.split():
        ws = words(tok)
        punct = bool(re.search(r"[,;:!?.\-]$", tok)) or "-" in tok
        flags += [punct and k == len(ws) - 1 for k in range(len(ws))]
    if len(flags) != len(words(text)):
        return None
    n = len(flags)
    near = [False] * n
    for i, p in enumerate(flags):
        if p and i < n - 1:
            for j in range(max(0, i - 1), min(n, i + 3)):
                near[j] = True
    return near


def pct(errors: int, total: int) -> str:
    return f"{100 * errors / max(1, total):.1f}"


def report_voice(name: str, transcripts: list[dict]) -> None:
    print(f"{name} ({len(transcripts)} sentences): ours | flite")
    rows = {k: {"ours": [0, 0], "flite": [0, 0]} for k in
            ["quarter 1", "quarter 2", "quarter 3", "quarter 4", "under 10 words", "10-15 words", "16+ words",
             "next to punctuation", "elsewhere"]}
    excess: list[int] = []
    for t in transcripts:
        ref = words(t["text"])
        if not ref:
            continue
        near = near_punctuation(t["text"])
        n = len(ref)
        length = "under 10 words" if n < 10 else ("10-15 words" if n < 16 else "16+ words")
        errs = {}
        for who, key in (("ours", "hyp"), ("flite", "reference_hyp")):
            w = wrong_words(ref, words(t[key]))
            errs[who] = sum(w)
            for i, e in enumerate(w):
                keys = [f"quarter {min(3, 4 * i // n) + 1}", length]
                if near is not None:
                    keys.append("next to punctuation" if near[i] else "elsewhere")
                for k in keys:
                    rows[k][who][0] += e
                    rows[k][who][1] += 1
        excess.append(errs["ours"] - errs["flite"])
    for k, r in rows.items():
        print(f"  {k:20s} {pct(*r['ours']):>5s} | {pct(*r['flite']):>5s}   ({r['ours'][1]} words)")
    excess.sort(reverse=True)
    total = sum(excess)
    print(f"  excess errors {total}: the worst 10 sentences carry {sum(excess[:10])}, the worst 30 {sum(excess[:30])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="+", help="eval e2e --transcripts JSON reports")
    a = ap.parse_args()
    for path in a.reports:
        with open(path) as f:
            rep = json.load(f)
        for voice, score in rep["voices"].items():
            if "transcripts" not in score:
                raise SystemExit(f"{path}: voice {voice} has no transcripts (run eval e2e with --transcripts)")
            report_voice(f"{path}: {voice}", score["transcripts"])


if __name__ == "__main__":
    main()
