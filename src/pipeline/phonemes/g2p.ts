/**
 * Grapheme-to-phoneme with espeak-ng (the `phonemizer` package: espeak-ng
 * compiled to WASM, in process), then IPA -> symbol ids with the manifest's
 * symbol table (greedy longest match). Clause punctuation is kept as symbols,
 * because pauses and intonation hang on it.
 */
import { phonemize } from "phonemizer";
import type { ServingManifest } from "../../models/manifest.js";
import { isAbbreviationPeriod } from "../text/abbreviations.js";

export interface PhonemeSequence {
  readonly ipa: string;
  readonly ids: Int32Array;
}

// A clause ends at marks followed by a space or the end, with any closing quotes or brackets after them.
const CLAUSE_END = /([.,!?;:]+)["')\]\u201d\u2019\u00bb]*(?=\s|$)/g;

/**
 * Text -> IPA with clause punctuation put back (espeak drops it). The text is cut at its own clause marks
 * (not after abbreviations: "U.S.", "Dr.") and each piece phonemized alone, so each mark lands on its own
 * clause even where espeak splits a piece further (at a dash, or a full stop before a quote): those inner
 * splits get a comma. Training data is phonemized by this same function (`soundstorm prepare phonemes`),
 * so the models see the symbols the server will feed them.
 */
export async function textToIpa(text: string, lang: string): Promise<string> {
  const pieces: { text: string; mark: string }[] = [];
  let from = 0;
  for (const m of text.matchAll(CLAUSE_END)) {
    const end = m.index + m[0].length;
    // the text's last full stop ends it, abbreviation or not ("... from Mount St.")
    if (m[1] === "." && text.slice(end).trim() && isAbbreviationPeriod(text, m.index)) continue;
    pieces.push({ text: text.slice(from, end), mark: m[1][m[1].length - 1] });
    from = end;
  }
  if (text.slice(from).trim()) pieces.push({ text: text.slice(from), mark: "" });
  const parts: string[] = [];
  for (const piece of pieces) {
    const clauses = (await phonemize(piece.text, lang)).map((c) => c.trim()).filter(Boolean);
    if (clauses.length) parts.push(clauses.join(", ") + piece.mark);
  }
  return parts.join(" ").trim();
}

export class Phonemizer {
  private readonly table: Map<string, number>;
  private readonly maxLen: number;
  private readonly unk: number;
  private readonly lang: string;

  /** Word separator symbol id. */
  readonly isSeparator: (id: number) => boolean;
  /** Symbols with no sound of their own: punctuation, stress and length marks, specials. */
  readonly isSilent: (id: number) => boolean;

  constructor(manifest: ServingManifest) {
    this.table = new Map(manifest.text.symbols.map((s, i) => [s, i]));
    const sep = this.table.get(manifest.text.word_separator) ?? -1;
    const silent = manifest.text.symbols.map((s) => s.startsWith("<") || !/\p{L}/u.test(s) || s === "ˈ" || s === "ˌ" || s === "ː");
    this.isSeparator = (id) => id === sep;
    this.isSilent = (id) => silent[id] ?? true;
    this.maxLen = Math.max(...manifest.text.symbols.map((s) => s.length));
    this.unk = manifest.text.unk_id;
    this.lang = manifest.text.phonemizer_language;
  }

  async phonemize(text: string): Promise<PhonemeSequence> {
    const ipa = await textToIpa(text, this.lang);
    return { ipa, ids: this.encode(ipa) };
  }

  /** IPA string -> symbol ids (longest match first; unknown characters map to unk). */
  encode(ipa: string): Int32Array {
    const ids: number[] = [];
    let i = 0;
    while (i < ipa.length) {
      let matched = false;
      for (let n = Math.min(this.maxLen, ipa.length - i); n > 0; n--) {
        const id = this.table.get(ipa.slice(i, i + n));
        if (id !== undefined) { ids.push(id); i += n; matched = true; break; }
      }
      if (!matched) { ids.push(this.unk); i++; }
    }
    return Int32Array.from(ids);
  }
}
