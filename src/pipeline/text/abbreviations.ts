/**
 * Which full stops end nothing: the period of an abbreviation ("Dr.", "No.", "etc."), of initials and
 * dotted letters ("J.", "U.S.", "a.m.", "e.g.") and of a list number at the start of a line ("1.").
 * The chunker does not cut there and the phonemizer does not put a clause boundary there, because a cut
 * or clause end gives the word a pause and a falling, sentence-final tone in mid-sentence.
 */

// Titles and other abbreviations written with a capital: case matters ("No. 5" vs "I said no.").
const CASED = new Set(["Dr", "Mr", "Mrs", "Ms", "Prof", "St", "Jr", "Sr", "No", "Nos", "Mt", "Ft", "Gen", "Gov", "Sen",
  "Rep", "Capt", "Lt", "Col", "Sgt", "Rev", "Hon", "Inc", "Ltd", "Co", "Corp", "Fig", "Vol", "Ch", "Jan", "Feb", "Mar",
  "Apr", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec", "Ave", "Blvd", "Dept", "Est", "Pt"]);
// Lower-case abbreviations, in any case.
const ANY_CASE = new Set(["etc", "vs", "approx", "cf", "ca", "al", "pp", "esp", "incl", "min", "max"]);

/**
 * Whether the "." at text[dot] belongs to an abbreviation rather than ending a clause. Only the single
 * period right after a word counts ("etc..." or "no!" are real ends).
 */
export function isAbbreviationPeriod(text: string, dot: number): boolean {
  if (text[dot] !== "." || text[dot + 1] === ".") return false;
  let start = dot;
  while (start > 0 && !/[\s("'\[\u201c\u2018]/u.test(text[start - 1])) start--;
  const word = text.slice(start, dot);
  if (!word) return false;
  if (CASED.has(word) || ANY_CASE.has(word.toLowerCase())) return true;
  // dotted letters (U.S, a.m, e.g, Ph.D) and single-capital initials (J. K. Rowling), but not the pronoun "I"
  if (/^(?:\p{L}{1,2}\.)+\p{L}{1,2}$/u.test(word)) return true;
  if (/^\p{Lu}$/u.test(word) && word !== "I") return true;
  // a list number opening a line: "1. Buy milk"
  if (/^\d{1,3}$/.test(word)) {
    const before = text.slice(0, start);
    return /(?:^|\n)[ \t]*$/.test(before);
  }
  return false;
}
