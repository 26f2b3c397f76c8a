/**
 * Text normalization before grapheme-to-phoneme, so that written forms are read the way a person
 * would: currency ("$42.50" -> "forty-two dollars and fifty cents"), percentages, ordinals ("3rd"),
 * dates and fractions ("on 3/4" -> "on March fourth", "3/4 cup" -> "three quarters cup"), clock
 * times, common abbreviations ("Dr. Smith" -> "Doctor Smith"), symbols ("&", "+", "@"); plain numbers
 * become words too (espeak-ng would read them, but digits inside other forms it reads badly).
 * Also drops control characters and folds whitespace and typographic quotes.
 */

const ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
  "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
const TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
const SCALES: [number, string][] = [[1e12, "trillion"], [1e9, "billion"], [1e6, "million"], [1e3, "thousand"]];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** Cardinal number in words (integers up to the trillions; beyond that, digit by digit). */
export function numberToWords(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (n < 0) return `minus ${numberToWords(-n)}`;
  if (n >= 1e15) return String(n).split("").map((d) => ONES[Number(d)] ?? d).join(" ");
  if (n < 20) return ONES[n];
  if (n < 100) return TENS[Math.floor(n / 10)] + (n % 10 ? `-${ONES[n % 10]}` : "");
  if (n < 1000) return `${ONES[Math.floor(n / 100)]} hundred` + (n % 100 ? ` ${numberToWords(n % 100)}` : "");
  for (const [v, name] of SCALES) {
    if (n >= v) return `${numberToWords(Math.floor(n / v))} ${name}` + (n % v ? ` ${numberToWords(n % v)}` : "");
  }
  return String(n);
}

/** Ordinal in words: 1 -> first, 22 -> twenty-second. */
export function ordinalToWords(n: number): string {
  const w = numberToWords(n);
  const irregular: Record<string, string> = { one: "first", two: "second", three: "third", five: "fifth", eight: "eighth", nine: "ninth", twelve: "twelfth" };
  const m = /([a-z]+)$/.exec(w)!;
  const last = m[1];
  const ord = irregular[last] ?? (last.endsWith("y") ? `${last.slice(0, -1)}ieth` : `${last}th`);
  return w.slice(0, m.index) + ord;
}

/** Years read in pairs: 1984 -> nineteen eighty-four, 2005 -> two thousand five, 1900 -> nineteen hundred. */
export function yearToWords(y: number): string {
  if (y >= 2000 && y < 2010) return numberToWords(y);
  const hi = Math.floor(y / 100), lo = y % 100;
  if (lo === 0) return `${numberToWords(hi)} hundred`;
  return `${numberToWords(hi)} ${lo < 10 ? `oh ${ONES[lo]}` : numberToWords(lo)}`;
}

const ABBREVIATIONS: [RegExp, string][] = [
  [/\bDr\.(?=\s+\p{Lu})/gu, "Doctor"], [/\bMr\./g, "Mister"], [/\bMrs\./g, "Missus"], [/\bMs\./g, "Miz"],
  [/\bProf\.(?=\s)/g, "Professor"], [/\bSt\.(?=\s+\p{Lu})/gu, "Saint"], [/\bJr\./g, "Junior"], [/\bSr\./g, "Senior"],
  [/\bvs\./gi, "versus"], [/\be\.g\./gi, "for example"], [/\bi\.e\./gi, "that is"], [/\betc\./gi, "et cetera"],
  [/\bapprox\./gi, "approximately"], [/\bNo\.(?=\s*\d)/g, "number"],
];

const CURRENCIES: Record<string, [string, string, string, string]> = {
  "$": ["dollar", "dollars", "cent", "cents"], "€": ["euro", "euros", "cent", "cents"],
  "£": ["pound", "pounds", "penny", "pence"], "¥": ["yen", "yen", "", ""],
};
const SCALE_WORDS = /^(thousand|million|billion|trillion)$/i;

function money(symbol: string, whole: string, cents: string | undefined, scale: string | undefined): string {
  const [one, many, cOne, cMany] = CURRENCIES[symbol];
  const n = Number(whole.replace(/,/g, ""));
  if (scale) return `${cardinal(whole)}${cents ? ` point ${digits(cents)}` : ""} ${scale.toLowerCase()} ${many}`;
  let out = `${cardinal(whole)} ${n === 1 ? one : many}`;
  const c = cents ? Number(cents.padEnd(2, "0").slice(0, 2)) : 0;
  if (c && cOne) out += ` and ${numberToWords(c)} ${c === 1 ? cOne : cMany}`;
  return out;
}

const digits = (s: string) => s.split("").map((d) => ONES[Number(d)]).join(" ");

/** A written whole number (digits, maybe with thousands commas) in words. Past 15 digits a number is read digit
 * by digit from its text: Number() would round it (2^53) or turn it into "1e+21". */
function cardinal(written: string): string {
  const d = written.replace(/,/g, "");
  return d.replace(/^0+(?=\d)/, "").length > 15 ? digits(d) : numberToWords(Number(d));
}

function decimal(s: string): string {
  const [i, f] = s.replace(/,/g, "").split(".");
  return cardinal(i) + (f ? ` point ${digits(f)}` : "");
}

/** Whether text already through normalizeText has anything to say (a letter or a digit). */
export function isSpeakable(normalized: string): boolean {
  return /[\p{L}\p{N}]/u.test(normalized);
}

export function normalizeText(text: string): string {
  let t = text
    .normalize("NFKC")
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, " ")
    .replace(/[\u2018\u2019\u201a\u201b]/g, "'")
    .replace(/[\u201c\u201d\u201e\u201f]/g, '"');
  for (const [re, word] of ABBREVIATIONS) t = t.replace(re, word);
  t = t
    // currency, optionally with a scale word: $42, $3.50, $1,200, $2.5 million
    .replace(/([$€£¥])\s?(\d[\d,]*)(?:\.(\d+))?(?:\s+(thousand|million|billion|trillion)\b)?/gi,
      (_, s: string, w: string, c: string | undefined, sc: string | undefined) => money(s, w, c, sc && SCALE_WORDS.test(sc) ? sc : undefined))
    .replace(/(\d[\d,]*(?:\.\d+)?)\s?%/g, (_, n: string) => `${decimal(n)} percent`)
    .replace(/\b(\d{1,15})(st|nd|rd|th)\b/gi, (_, n: string) => ordinalToWords(Number(n)))
    // clock times: 3:30 pm, 10:05
    .replace(/\b(\d{1,2}):(\d{2})\s?([ap])\.?m\.?(?=\W|$)/gi, (_, h: string, m: string, ap: string) =>
      `${clock(h, m)} ${ap.toLowerCase() === "a" ? "a m" : "p m"}`)
    .replace(/\b(\d{1,2}):(\d{2})\b/g, (_, h: string, m: string) => clock(h, m))
    // month/day after a date preposition, else a fraction
    .replace(/\b(on|by|until|since|from|before|after)\s+(\d{1,2})\/(\d{1,2})(?:\/(\d{2,4}))?\b/gi,
      (all, p: string, mo: string, d: string, y: string | undefined) => {
        const m = Number(mo), day = Number(d);
        if (m < 1 || m > 12 || day < 1 || day > 31) return all;
        return `${p} ${MONTHS[m - 1]} ${ordinalToWords(day)}${y ? `, ${yearToWords(Number(y.length === 2 ? `20${y}` : y))}` : ""}`;
      })
    .replace(/\b(\d{1,15})\/(\d{1,15})\b/g, (_, a: string, b: string) => fraction(Number(a), Number(b)))
    // years in context: "in 1984", "1990s"
    .replace(/\b(1[1-9]\d\d|20\d\d)s\b/g, (_, y: string) => pluralize(yearToWords(Number(y))))
    .replace(/\b(in|since|by|from|until|of|year)\s+(1[1-9]\d\d|20\d\d)\b/gi, (_, p: string, y: string) => `${p} ${yearToWords(Number(y))}`)
    .replace(/\d[\d,]*\.\d+|\d{1,3}(?:,\d{3})+|\d+/g, (n) => decimal(n))
    .replace(/\s&\s/g, " and ")
    .replace(/\s\+\s/g, " plus ")
    .replace(/(\S)@(\S)/g, "$1 at $2");
  return t.replace(/\s+/g, " ").trim();
}

function clock(h: string, m: string): string {
  const mm = Number(m);
  return `${numberToWords(Number(h))}${mm === 0 ? "" : mm < 10 ? ` oh ${ONES[mm]}` : ` ${numberToWords(mm)}`}`;
}

function fraction(a: number, b: number): string {
  if (b === 0) return `${numberToWords(a)} slash zero`;
  const den = b === 2 ? (a === 1 ? "half" : "halves") : b === 4 ? (a === 1 ? "quarter" : "quarters") : (a === 1 ? ordinalToWords(b) : pluralize(ordinalToWords(b)));
  return `${numberToWords(a)} ${den}`;
}

function pluralize(w: string): string {
  return w.endsWith("y") ? `${w.slice(0, -1)}ies` : `${w}s`;
}
