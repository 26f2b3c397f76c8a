"""Phoneme symbols (espeak-ng IPA, as the server's front end emits them) and their alignment to flite's
phone segmentation, which gives every IPA symbol a duration in semantic frames for training."""
from __future__ import annotations

import numpy as np

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>", " "]
PUNCT = list(".,!?;:-'\"()")
IPA = list("abdefhijklmnoprstuvwxzæçðøŋœɐɑɒɔəɚɛɜɡɪɬɹɾʃʊʌʒʔθᵻ") + ["ˈ", "ˌ", "ː", "̩", "oʊ", "aɪ", "aʊ", "eɪ", "ɔɪ",
                                                                      "tʃ", "dʒ", "ɜː", "iə"]
SYMBOLS = SPECIALS + PUNCT + IPA
SYMBOL_ID = {s: i for i, s in enumerate(SYMBOLS)}
UNK = SYMBOL_ID["<unk>"]
MAX_LEN = max(len(s) for s in SYMBOLS)


def encode(ipa: str) -> list[str]:
    """Greedy longest match, exactly like the server's Phonemizer.encode (unknown chars -> <unk>)."""
    out, i = [], 0
    while i < len(ipa):
        for n in range(min(MAX_LEN, len(ipa) - i), 0, -1):
            if ipa[i:i + n] in SYMBOL_ID:
                out.append(ipa[i:i + n])
                i += n
                break
        else:
            out.append("<unk>")
            i += 1
    return out


# Which flite phones each IPA symbol may stand for (espeak and flite disagree on reductions and flaps).
COMPAT = {
    "ə": "ax ah ih er uh", "ɚ": "er ax r", "ɜ": "er", "ɜː": "er", "ʌ": "ah ax", "ɑ": "aa ao ah", "æ": "ae eh",
    "ɛ": "eh ae ey", "ɪ": "ih iy ax ey", "i": "iy ih y", "ᵻ": "ih ax iy", "ʊ": "uh uw ax", "u": "uw uh",
    "ɔ": "ao aa ow", "ɒ": "aa ao", "o": "ow ao", "oʊ": "ow ao", "aɪ": "ay", "aʊ": "aw", "eɪ": "ey eh", "ɔɪ": "oy",
    "iə": "iy ih ax", "e": "ey eh", "a": "aa ae ay aw ah", "ɐ": "ax ah aa", "ø": "uw", "œ": "uh",
    "b": "b", "d": "d t", "f": "f", "h": "hh", "j": "y", "k": "k g", "l": "l", "m": "m", "n": "n ng", "p": "p",
    "r": "r", "ɹ": "r er", "s": "s z", "t": "t d", "v": "v f", "w": "w", "z": "z s", "ð": "dh th", "θ": "th dh",
    "ŋ": "ng n", "ɡ": "g k", "ʃ": "sh", "ʒ": "zh jh", "tʃ": "ch", "dʒ": "jh", "ɾ": "t d", "ʔ": "t", "x": "k hh",
    "ç": "hh", "ɬ": "l",
}
COMPAT = {k: set(v.split()) for k, v in COMPAT.items()}
SILENT = {" ", "ˈ", "ˌ", "ː", "̩", "-", "'", '"', "(", ")", "<pad>", "<bos>", "<eos>", "<unk>"}
PAUSE = {".", ",", "!", "?", ";", ":"}


def _match(a: str, b: str) -> float:
    if b == "pau":
        return 0.0 if a in PAUSE or a == " " else 4.0
    if a in COMPAT:
        return 0.0 if b in COMPAT[a] else 2.0
    return 4.0


def _skip_a(a: str) -> float:
    return 0.0 if a in SILENT else (0.3 if a in PAUSE else 1.5)


def align(symbols: list[str], phones: list[tuple[str, float]], rate: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Durations of each symbol at `rate` frames/s; the leading pause is cut.

    Returns (frames, continuous, start_frame, end_frame): integer durations (cumulative rounding, the
    same rule the server applies to predicted durations) covering frames [start_frame, end_frame) of the
    utterance, and the unrounded durations in frames (0 for symbols with no sound of their own)."""
    starts = [0.0] + [e for _, e in phones[:-1]]
    segs = [(p, s, e) for (p, e), s in zip(phones, starts)]
    lead = 0
    while lead < len(segs) and segs[lead][0] == "pau":
        lead += 1
    segs = segs[lead:]
    n, m = len(symbols), len(segs)
    INF = 1e9
    cost = np.full((n + 1, m + 1), INF)
    back = np.zeros((n + 1, m + 1), dtype=np.int8)  # 1 diag, 2 skip/extend symbol, 3 merge phone
    cost[0, 0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            c = cost[i, j]
            if c >= INF:
                continue
            if i < n and j < m:
                v = c + _match(symbols[i], segs[j][0])
                if v < cost[i + 1, j + 1]:
                    cost[i + 1, j + 1], back[i + 1, j + 1] = v, 1
            if i < n:  # symbol with no phone of its own: silent, or sharing the previous phone
                v = c + (min(_skip_a(symbols[i]), 0.2 + _match(symbols[i], segs[j - 1][0])) if j > 0 else _skip_a(symbols[i]))
                if v < cost[i + 1, j]:
                    cost[i + 1, j], back[i + 1, j] = v, 2
            if j < m and i > 0:  # phone merged into the previous symbol
                v = c + (0.2 + min(_match(symbols[i - 1], segs[j][0]), 1.5) if segs[j][0] != "pau" else 0.5)
                if v < cost[i, j + 1]:
                    cost[i, j + 1], back[i, j + 1] = v, 3
    # walk back: owners[j] = symbols that share phone j
    owners: list[list[int]] = [[] for _ in range(m)]
    i, j = n, m
    while i > 0 or j > 0:
        b = back[i, j]
        if b == 1:
            owners[j - 1].append(i - 1)
            i, j = i - 1, j - 1
        elif b == 2:
            if j > 0 and _skip_a(symbols[i - 1]) > 0.2 + _match(symbols[i - 1], segs[j - 1][0]) - 1e-9 and symbols[i - 1] not in SILENT:
                owners[j - 1].append(i - 1)
            i -= 1
        else:
            owners[j - 1].append(i - 1)
            j -= 1
    # time spans per symbol, then frame boundaries by rounding the cumulative times
    t_end = np.zeros(n)
    t_start = np.full(n, np.inf)
    for j, (p, s, e) in enumerate(segs):
        who = sorted(set(owners[j]))
        if not who:
            continue
        step = (e - s) / len(who)
        for k, w in enumerate(who):
            t_start[w] = min(t_start[w], s + k * step)
            t_end[w] = max(t_end[w], s + (k + 1) * step)
    t0 = segs[0][1] if segs else 0.0
    start_frame = int(round(t0 * rate))
    edges = np.zeros(n + 1)
    edges[0] = start_frame
    cur = t0
    for k in range(n):
        if np.isfinite(t_start[k]):
            cur = max(cur, t_end[k])
        edges[k + 1] = round(cur * rate)
    edges = np.maximum.accumulate(edges)
    dur = np.diff(edges).astype(np.int64)
    cont = np.where(np.isfinite(t_start), (t_end - np.where(np.isfinite(t_start), t_start, 0)) * rate, 0.0)
    return dur, cont, start_frame, int(edges[-1])
