/**
 * Cuts incrementally arriving text into phrase-sized chunks following a
 * latency schedule: a small first chunk (speak early), larger later ones
 * (better prosody, fewer passes). Words are never split.
 */
import type { ChunkPolicy } from "../../config.js";
import { isAbbreviationPeriod } from "./abbreviations.js";
import { isSpeakable, normalizeText } from "./normalize.js";

// A run of marks is taken whole (lookahead + backreference: an atomic group), so a long run with no space after
// it fails once instead of being retried at every length (which made "....." thousands long take seconds).
// Closing quotes and brackets after the marks stay with the sentence, typographic ones (what LLMs write) included.
const SENTENCE_END = /(?=([.!?…]+))\1["')\]\u201d\u2019\u00bb]*(?=\s)/g;
const PHRASE_END = /(?=([,;:—–]+|[.!?…]+))\1["')\]\u201d\u2019\u00bb]*(?=\s)/g;

const READ_WITH_NEXT = /^[$€£¥]?\d[\d,.:]*$/;

/** Function words that lean on the word after them: articles and other determiners, prepositions,
 * conjunctions, auxiliaries and "to". A chunk cut after one is spoken as a phrase end (falling tone, pause)
 * on a word that belongs to the next phrase ("so let it cool for a | minute"). */
const LEANS_ON_NEXT = new Set((
  "a an the this these those my your his its our their some any every each no " +
  "of to in on at for from with by about into onto over under after before until near across through " +
  "between without within during against toward towards upon around behind beside despite among along beyond " +
  "above below beneath throughout via " +
  "and or but nor if because while when where as than whether though although unless since " +
  "will would can could shall should may might must be is are was were am been has have had do does did"
).split(" "));

/** Whether the word ending at text[end - 1] is read with the word after it: a number, amount or time, a
 * function word, or a title or other abbreviation ("Dr.", "J."). The hold loop and the check that a word
 * stays in the chunk ask this same question (they disagreed on titles, leaving "Dr." alone in a chunk). */
const leansOnNext = (text: string, word: string, end: number) =>
  READ_WITH_NEXT.test(word) || LEANS_ON_NEXT.has(word.toLowerCase()) || isAbbreviationPeriod(text, end - 1);

/** At most this many words wait for the word after them at a deadline cut. */
const MAX_HELD_WORDS = 3;

export class TextChunker {
  private buf = "";
  private emitted = 0;
  /** Absolute character offset of buf[0] in everything pushed so far. */
  private offset = 0;

  constructor(private readonly policy: Pick<ChunkPolicy, "firstMinChars" | "minChars" | "phraseChars" | "maxChars">) {}

  /** Characters of text buffered, not yet in a chunk. Whitespace alone does not count: the space left
   * after a cut is in no chunk, and a deadline must not run from it. */
  get pending(): number {
    return this.buf.trim().length;
  }

  /** Characters of the complete words buffered (what `flushWords` could cut, before it keeps any back). */
  get completeWordChars(): number {
    const m = /\s(?=\S*$)/.exec(this.buf);
    return m ? this.buf.slice(0, m.index).trim().length : 0;
  }

  /** Whether a complete word is buffered (one `flushWords` keeps back for the word after it). */
  get holdsWholeWord(): boolean {
    return /\S\s/.test(this.buf);
  }

  /** Add text; returns the chunks that are now complete. */
  push(text: string): TextChunk[] {
    this.buf += text;
    const out: TextChunk[] = [];
    for (;;) {
      const { at, midPhrase } = this.findCut();
      if (at <= 0) break;
      const chunk = this.take(at);
      out.push(midPhrase ? { ...chunk, midPhrase } : chunk);
    }
    return out;
  }

  /** Everything buffered as one chunk (explicit flush or end), or none if only whitespace. */
  flush(): TextChunk[] {
    const chunk = this.take(this.buf.length);
    return chunk.text ? [chunk] : [];
  }

  /** Complete words only (the buffering deadline passed): keeps a trailing partial word. */
  flushWords(): TextChunk[] {
    const m = /\s(?=\S*$)/.exec(this.buf);
    if (!m) return [];
    let cut = m.index + 1;
    // A number, amount or time, a title, or a function word is read with the word after it ("$1.5 million",
    // "3:30 pm", "Dr. Smith", "for a minute"): the last few such words wait for the next chunk, as long as a
    // word that does not lean on the next one stays in this chunk (so nothing waits forever).
    let held = cut;
    for (let n = 0; n < MAX_HELD_WORDS; n++) {
      const last = /(\S+)\s*$/.exec(this.buf.slice(0, held));
      if (!last || !leansOnNext(this.buf, last[1], last.index + last[1].length)) break;
      held = last.index;
    }
    const staying = (w: RegExpMatchArray) => !leansOnNext(this.buf, w[0], w.index! + w[0].length);
    if (held < cut && [...this.buf.slice(0, held).matchAll(/\S+/g)].some(staying)) cut = held;
    // a lone mark (an LLM's "," token after a cut) waits for the words it belongs with: as a chunk of its own
    // it would only be skipped, with a no_speakable_text error the client did nothing to cause
    if (!isSpeakable(normalizeText(this.buf.slice(0, cut)))) return [];
    const chunk = this.take(cut);
    return chunk.text ? [{ ...chunk, midPhrase: true }] : [];
  }

  /** A chunk index for a chunk made outside the chunker (a held word spoken on its own): indices stay unique and in order. */
  nextIndex(): number {
    return this.emitted++;
  }

  private take(n: number): TextChunk {
    const raw = this.buf.slice(0, n);
    const lead = raw.length - raw.trimStart().length;
    const chunk = { text: raw.trim(), charOffset: this.offset + lead, index: this.emitted };
    this.buf = this.buf.slice(n);
    this.offset += n;
    if (chunk.text) this.emitted++;
    return chunk;
  }

  /**
   * Index just past the cut, or 0 when no chunk is ready yet. The earliest
   * qualifying boundary wins: a sentence end past minChars or a phrase end past
   * phraseChars (for the first chunk, either past firstMinChars), never beyond
   * maxChars; at maxChars, the last word boundary (mid-phrase).
   */
  private findCut(): { at: number; midPhrase: boolean } {
    const p = this.policy;
    const first = this.emitted === 0;
    const sentenceMin = first ? p.firstMinChars : p.minChars;
    const phraseMin = first ? p.firstMinChars : p.phraseChars;
    // a cut is never past maxChars, so only that much (and the character after it, for the lookahead) is searched
    const head = this.buf.slice(0, p.maxChars + 1);
    const earliest = (re: RegExp, min: number) => {
      for (const m of head.matchAll(re)) {
        if (isAbbreviationPeriod(head, m.index)) continue;  // "Dr.", "U.S.", "No.": no pause, no falling tone
        const end = m.index + m[0].length;
        if (end > p.maxChars) return 0;
        if (end >= min) return end;
      }
      return 0;
    };
    const cuts = [earliest(SENTENCE_END, sentenceMin), earliest(PHRASE_END, phraseMin)].filter((c) => c > 0);
    if (cuts.length) return { at: Math.min(...cuts), midPhrase: false };
    if (this.buf.length >= p.maxChars) {
      // after the last whitespace of any kind (newline, tab, no-break space) at or before maxChars
      let ws = p.maxChars;
      while (ws > 0 && !/\s/.test(head[ws])) ws--;
      if (ws > 0) return { at: ws + 1, midPhrase: true };
      // one word longer than maxChars: cut it, but not between the two halves of a surrogate pair
      const hi = this.buf.charCodeAt(p.maxChars - 1);
      return { at: p.maxChars > 1 && hi >= 0xd800 && hi <= 0xdbff ? p.maxChars - 1 : p.maxChars, midPhrase: true };
    }
    return { at: 0, midPhrase: false };
  }
}

export interface TextChunk {
  readonly text: string;
  /** Offset of text[0] in the whole text of the context. */
  readonly charOffset: number;
  readonly index: number;
  /** Cut at a deadline or at maxChars, not at a sentence or phrase end: the text goes on mid-phrase. */
  readonly midPhrase?: boolean;
}
