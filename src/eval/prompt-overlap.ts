/**
 * Held-out hygiene for evaluations: a sentence that a voice prompt speaks is not held out for that voice
 * (SoundStorm sees its audio in the prompt), so evaluations leave it out for that voice and say so.
 * Compared by phonemes, as the prompt stores them, so punctuation and spelling variants of the same words match.
 */
import type { Phonemizer } from "../pipeline/phonemes/g2p.js";

const comparable = (ipa: string) => ipa.replace(/[\s.,;:!?"'()\u2014\u2013-]+/g, "");

/** Leaves out of each voice's sentences the one its prompt speaks; each sentence is phonemized once for all voices. */
export class PromptSentences {
  private readonly ipa = new Map<string, Promise<string>>();

  constructor(private readonly phonemizer: Phonemizer) {}

  /** The sentences that are not the prompt's own (by phonemes), and how many were left out. */
  async without(promptPhonemes: string, sentences: readonly string[]): Promise<{ sentences: string[]; skipped: number }> {
    const prompt = comparable(promptPhonemes);
    if (!prompt) return { sentences: [...sentences], skipped: 0 };
    const kept: string[] = [];
    for (const s of sentences) if ((await this.comparableIpa(s)) !== prompt) kept.push(s);
    return { sentences: kept, skipped: sentences.length - kept.length };
  }

  private comparableIpa(sentence: string): Promise<string> {
    let p = this.ipa.get(sentence);
    if (!p) this.ipa.set(sentence, (p = this.phonemizer.phonemize(sentence).then((x) => comparable(x.ipa))));
    return p;
  }
}
