/** Text clean-up before grapheme-to-phoneme: drop control characters, fold whitespace and typographic quotes. */
export function normalizeText(text: string): string {
  return text
    .normalize("NFKC")
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, " ")
    .replace(/[\u2018\u2019\u201a\u201b]/g, "'")
    .replace(/[\u201c\u201d\u201e\u201f]/g, '"')
    .replace(/\s+/g, " ")
    .trim();
}
