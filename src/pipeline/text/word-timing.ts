/**
 * Word timestamps from the text-to-semantic alignment: the phoneme symbols between word separators
 * form spoken word groups whose frames are known; groups are matched to the written words of the
 * chunk. espeak-ng sometimes joins words ("in the" -> one group) or splits one (a number read as
 * several), so the match is a monotonic alignment of blocks (up to 3 written words to up to 8 groups)
 * scored by how well their lengths agree; inside a joined block, time is shared by letters.
 */

export interface WordTime {
  readonly word: string;
  /** Turn-relative, milliseconds. */
  readonly start_ms: number;
  readonly end_ms: number;
  /** Offset of the word's first character in the turn's text (UTF-16 code units). */
  readonly char_offset: number;
}

export interface SpokenGroup {
  /** Frames from the chunk's first frame. */
  readonly startFrame: number;
  readonly endFrame: number;
  readonly symbols: number;
}

/** Split per-symbol durations into spoken word groups (separators and punctuation excluded from the spans). */
export function spokenGroups(symbolIds: Int32Array, durations: Int32Array, isSeparator: (id: number) => boolean,
  isSilent: (id: number) => boolean): SpokenGroup[] {
  const groups: SpokenGroup[] = [];
  let t = 0;
  let cur: { start: number; end: number; n: number } | null = null;
  for (let i = 0; i < symbolIds.length; i++) {
    const id = symbolIds[i];
    const d = durations[i];
    if (isSeparator(id)) {
      if (cur) groups.push({ startFrame: cur.start, endFrame: cur.end, symbols: cur.n });
      cur = null;
    } else if (!isSilent(id)) {
      if (!cur) cur = { start: t, end: t + d, n: 0 };
      cur.end = t + d;
      cur.n++;
    }
    t += d;
  }
  if (cur) groups.push({ startFrame: cur.start, endFrame: cur.end, symbols: cur.n });
  return groups;
}

// A word as written: combining marks stay on their letter ("nai\u0308ve"), thousands commas inside a number
// ("1,000,000") and "&" inside a name ("AT&T") do not split it.
const WORD = /[\p{L}\p{N}](?:[\p{L}\p{N}\p{M}'’.\-]|,(?=\p{N})|&(?=\p{L}))*/gu;

/** Written words of a text with their offsets. */
export function writtenWords(text: string): { word: string; offset: number }[] {
  return [...text.matchAll(WORD)].map((m) => ({ word: m[0].replace(/[.\-]+$/, ""), offset: m.index ?? 0 }));
}

/**
 * Align written words to spoken groups and give each word a time span.
 * `frameMs`: length of one duration frame; `baseMs`: turn time of the chunk's first frame;
 * `baseOffset`: offset of the chunk's text in the turn's text.
 */
export function alignWords(text: string, groups: readonly SpokenGroup[], frameMs: number, baseMs: number, baseOffset: number): WordTime[] {
  const words = writtenWords(text);
  const W = words.length, G = groups.length;
  if (W === 0 || G === 0) return [];
  const letters = words.map((w) => spokenLength(w.word));
  const sym = groups.map((g) => Math.max(1, g.symbols));
  // mean symbols per letter sets the expected length of a block
  const ratio = sym.reduce((a, b) => a + b, 0) / letters.reduce((a, b) => a + b, 0);
  const INF = Number.POSITIVE_INFINITY;
  const cost: number[][] = Array.from({ length: W + 1 }, () => new Array<number>(G + 1).fill(INF));
  const from: [number, number][][] = Array.from({ length: W + 1 }, () => new Array<[number, number]>(G + 1));
  cost[0][0] = 0;
  for (let i = 0; i <= W; i++) {
    for (let j = 0; j <= G; j++) {
      if (cost[i][j] === INF) continue;
      for (let a = 1; a <= 3 && i + a <= W; a++) {
        let l = 0;
        for (let k = i; k < i + a; k++) l += letters[k];
        for (let b = 1; b <= 8 && j + b <= G; b++) {
          if (a > 1 && b > 1) break;  // a block joins words or splits one, not both
          let s = 0;
          for (let k = j; k < j + b; k++) s += sym[k];
          const c = cost[i][j] + Math.abs(Math.log((s + 1) / (l * ratio + 1))) + 0.3 * (a + b - 2);
          if (c < cost[i + a][j + b]) { cost[i + a][j + b] = c; from[i + a][j + b] = [i, j]; }
        }
      }
    }
  }
  if (cost[W][G] === INF) return fallback(words, groups, frameMs, baseMs, baseOffset);
  const out: WordTime[] = [];
  const blocks: [number, number, number, number][] = [];
  for (let i = W, j = G; i > 0 || j > 0;) {
    const [pi, pj] = from[i][j];
    blocks.push([pi, i, pj, j]);
    i = pi;
    j = pj;
  }
  blocks.reverse();
  for (const [i0, i1, j0, j1] of blocks) {
    const start = groups[j0].startFrame, end = groups[j1 - 1].endFrame;
    const total = letters.slice(i0, i1).reduce((a, b) => a + b, 0);
    let acc = 0;
    for (let k = i0; k < i1; k++) {
      const s = start + ((end - start) * acc) / total;
      acc += letters[k];
      const e = start + ((end - start) * acc) / total;
      out.push({ word: words[k].word, start_ms: ms(baseMs + s * frameMs), end_ms: ms(baseMs + e * frameMs), char_offset: baseOffset + words[k].offset });
    }
  }
  return out;
}

/** No monotonic match (should not happen): spread the words over the spoken span by letters. */
function fallback(words: { word: string; offset: number }[], groups: readonly SpokenGroup[], frameMs: number, baseMs: number, baseOffset: number): WordTime[] {
  const start = groups[0].startFrame, end = groups[groups.length - 1].endFrame;
  const total = words.reduce((a, w) => a + spokenLength(w.word), 0);
  let acc = 0;
  return words.map((w) => {
    const s = start + ((end - start) * acc) / total;
    acc += spokenLength(w.word);
    const e = start + ((end - start) * acc) / total;
    return { word: w.word, start_ms: ms(baseMs + s * frameMs), end_ms: ms(baseMs + e * frameMs), char_offset: baseOffset + w.offset };
  });
}

const ms = (x: number) => Math.round(x * 10) / 10;

/** Rough spoken length of a written word in letters: a digit is read as a word of its own (~4 letters). */
function spokenLength(word: string): number {
  let n = 0;
  for (const ch of word) n += /\p{N}/u.test(ch) ? 4 : /\p{L}/u.test(ch) ? 1 : 0;
  return Math.max(1, n);
}
