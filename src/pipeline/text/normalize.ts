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
  [/\bProf\.(?=\s)/g, "Professor"], [/\bSt\.(?=\s+\p{Lu})/gu, "Saint"], [/\bNo\.(?=\s*\d)/g, "number"],
  [/\bvs\./gi, "versus"], [/\be\.g\./gi, "for example"], [/\bi\.e\./gi, "that is"], [/\bapprox\./gi, "approximately"],
];
// These also end sentences: before a capital or the end of the text the full stop stays ("etc. Then" keeps
// its pause and falling tone).
const FINAL_ABBREVIATIONS: [RegExp, string][] = [
  [/\bJr\./g, "Junior"], [/\bSr\./g, "Senior"], [/\betc\./gi, "et cetera"],
];
const SENTENCE_FOLLOWS = /^(?:\s*$|\s+["'(\[]?\p{Lu})/u;

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

/** A written number: thousands commas ("1,200.5"), or a decimal comma when the comma is not one ("1,5"). */
const NUMBER = String.raw`\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?`;

function decimal(s: string): string {
  const grouped = /^\d{1,3}(?:,\d{3})+(?:\.\d+)?$/.test(s);
  const [i, f] = (grouped ? s.replace(/,/g, "") : s.replace(",", ".")).split(".");
  return cardinal(i) + (f ? ` point ${digits(f)}` : "");
}

/** Whether text already through normalizeText has anything to say (a letter or a digit). */
export function isSpeakable(normalized: string): boolean {
  return /[\p{L}\p{N}]/u.test(normalized);
}

export function normalizeText(text: string): string {
  let t = text
    // a lone surrogate (valid in JSON as "\\ud83d") would be read as some emoji's name, or eat the next letter
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, " ")
    // before NFKC, which turns "1½" into "11⁄2"
    .replace(/(\d?)([½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞])/g, (_, d: string, f: string) => `${d ? `${d} and ` : ""}${VULGAR[f]} `)
    // emoji are spelled out by espeak ("grinning face"); CJK as "Chinese letter": neither is what was meant
    .replace(/[\p{Extended_Pictographic}\u{1f1e6}-\u{1f1ff}\u{1f3fb}-\u{1f3ff}\ufe0e\ufe0f\u200d\u20e3]/gu, " ")
    .replace(/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/gu, " ")
    .normalize("NFKC")
    .replace(/\u2044/g, "/")
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, " ")
    .replace(/[\u2018\u2019\u201a\u201b]/g, "'")
    .replace(/[\u201c\u201d\u201e\u201f]/g, '"');
  for (const [re, word] of ABBREVIATIONS) t = t.replace(re, word);
  for (const [re, word] of FINAL_ABBREVIATIONS) {
    t = t.replace(re, (_m: string, at: number, all: string) => SENTENCE_FOLLOWS.test(all.slice(at + _m.length)) ? `${word}.` : word);
  }
  t = t
    // a minus sign, not a hyphen between words or numbers: "-5 degrees", "(−3)"
    .replace(/(^|[\s(=:])[-\u2212](?=\d)/g, "$1minus ")
    // currency, optionally with a scale word: $42, $3.50, $1,200, $2.5 million; "€2,99" has a decimal comma
    .replace(/([$€£¥])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:[.,](\d+))?(?:\s+(thousand|million|billion|trillion)\b)?/gi,
      (_, s: string, w: string, c: string | undefined, sc: string | undefined) => money(s, w, c, sc && SCALE_WORDS.test(sc) ? sc : undefined))
    .replace(new RegExp(`(${NUMBER})\\s?%`, "g"), (_, n: string) => `${decimal(n)} percent`)
    // phone numbers digit by digit: "555-1234", "(555) 123-4567"
    .replace(/\b(?:\(?\d{3}\)?[\s.-])?\d{3}-\d{4}\b/g, (n: string) => n.split(/\D+/).filter(Boolean).map(digits).join(", "))
    // ranges and scores: "5-10 people", "won 3–2"
    .replace(/(?<![\d.,:\/-])(\d{1,6})\s?[-\u2013](\d{1,6})(?![\d.,:\/-])/g, (_, a: string, b: string) => `${a} to ${b}`)
    .replace(/\b(\d{1,15})(st|nd|rd|th)\b/gi, (_, n: string) => ordinalToWords(Number(n)))
    // units written onto the number: 5kg, 10 km, 100mph
    .replace(UNIT_AFTER_NUMBER, (_, n: string, u: string) => `${n} ${unitWords(u, n)}`)
    // clock times: 3:30 pm, 10:05, 9am
    .replace(/\b(\d{1,2}):(\d{2})\s?([ap])\.?m\b(\.?)/gi, (_, h: string, m: string, ap: string, dot: string, at: number, all: string) =>
      `${clock(h, m)} ${meridiem(ap, dot, all.slice(at + _.length))}`)
    .replace(/\b(\d{1,2}):(\d{2})\b/g, (_, h: string, m: string) => clock(h, m))
    .replace(/\b(1[0-2]|0?[1-9])\s?([ap])\.?m\b(\.?)/gi, (_, h: string, ap: string, dot: string, at: number, all: string) =>
      `${numberToWords(Number(h))} ${meridiem(ap, dot, all.slice(at + _.length))}`)
    // month/day after a date preposition, else a fraction
    .replace(/\b(on|by|until|since|from|before|after)\s+(\d{1,2})\/(\d{1,2})(?:\/(\d{2,4}))?\b/gi,
      (all, p: string, mo: string, d: string, y: string | undefined) => {
        const m = Number(mo), day = Number(d);
        if (m < 1 || m > 12 || day < 1 || day > 31) return all;
        return `${p} ${MONTHS[m - 1]} ${ordinalToWords(day)}${y ? `, ${yearToWords(Number(y.length === 2 ? `20${y}` : y))}` : ""}`;
      })
    .replace(/\b(\d{1,15})\/(\d{1,15})\b/g, (_, a: string, b: string) => fraction(Number(a), Number(b)))
    // Roman numerals: "World War II", "Chapter IV" as numbers; after a name, "Henry VIII" as "the eighth"
    .replace(/\b(War|Chapter|Part|Volume|Act|Phase|Book|Section|Round|Level|Title|Type|Class|Stage|Apollo)\s+([IVX]{1,6})\b/g,
      (all, w: string, r: string) => { const n = roman(r); return n ? `${w} ${numberToWords(n)}` : all; })
    .replace(/\b(\p{Lu}\p{Ll}+)\s+([IVX]{2,6})\b/gu, (all, w: string, r: string) => { const n = roman(r); return n ? `${w} the ${ordinalToWords(n)}` : all; })
    // years in context: "in 1984", "1990s"
    .replace(/\b(1[1-9]\d\d|20\d\d)s\b/g, (_, y: string) => pluralize(yearToWords(Number(y))))
    .replace(/\b([1-9]0)s\b/g, (_, d: string) => pluralize(numberToWords(Number(d))))
    .replace(/\b(in|since|by|from|until|of|year)\s+(1[1-9]\d\d|20\d\d)\b/gi, (_, p: string, y: string) => `${p} ${yearToWords(Number(y))}`)
    // and as a modifier: "the 1990 season", "a 1967 film" (a count there reads the same way: "the 1500 men")
    .replace(/\b(the|a|an|this|that|his|her|its|their|our|my|your)\s+(1[1-9]\d\d|20\d\d)(?=\s+\p{Ll})/giu, (_, p: string, y: string) => `${p} ${yearToWords(Number(y))}`)
    // digit strings with a leading zero are codes, read digit by digit: "02134", "007"
    .replace(/(?<![\d.,])0\d+\b(?![.,]\d)/g, digits)
    // numbers run into letters ("3D", "MP3", "COVID19"; not the plural "90s"): a space between, or espeak joins them
    .replace(/(\d)(?=(?!s\b)\p{L})|(\p{L})(?=\d)/gu, "$1$2 ")
    .replace(/\d[\d,]*\.\d+|\d{1,3}(?:,\d{3})+|\d+/g, (n) => decimal(n))
    .replace(/\s&\s/g, " and ")
    .replace(/\s\+\s/g, " plus ")
    .replace(/(\S)@(\S)/g, "$1 at $2");
  return t.replace(/\s+/g, " ").trim();
}

/** "a m" / "p m", keeping a written "a.m."'s full stop only where it also ends the sentence. */
function meridiem(ap: string, dot: string, after: string): string {
  return `${ap.toLowerCase() === "a" ? "a m" : "p m"}${dot && SENTENCE_FOLLOWS.test(after) ? "." : ""}`;
}

function clock(h: string, m: string): string {
  const mm = Number(m);
  return `${numberToWords(Number(h))}${mm === 0 ? "" : mm < 10 ? ` oh ${ONES[mm]}` : ` ${numberToWords(mm)}`}`;
}

function fraction(a: number, b: number): string {
  // "24/7", "50/50", "1/1" are not fractions: read as two numbers
  if (b < 2 || b > 16 || a < 1 || a > 20 || a === b) return b === 0 ? `${numberToWords(a)} slash zero` : `${numberToWords(a)} ${numberToWords(b)}`;
  const den = b === 2 ? (a === 1 ? "half" : "halves") : b === 4 ? (a === 1 ? "quarter" : "quarters") : (a === 1 ? ordinalToWords(b) : pluralize(ordinalToWords(b)));
  return `${numberToWords(a)} ${den}`;
}

const VULGAR: Record<string, string> = {
  "½": "one half", "⅓": "one third", "⅔": "two thirds", "¼": "one quarter", "¾": "three quarters", "⅕": "one fifth",
  "⅖": "two fifths", "⅗": "three fifths", "⅘": "four fifths", "⅙": "one sixth", "⅚": "five sixths", "⅛": "one eighth",
  "⅜": "three eighths", "⅝": "five eighths", "⅞": "seven eighths",
};

// Case matters: "5G" is a network, "5 g" grams; "MB" is a unit, "mb" is not written.
const UNITS: Record<string, [string, string]> = {
  kg: ["kilogram", "kilograms"], g: ["gram", "grams"], mg: ["milligram", "milligrams"], km: ["kilometer", "kilometers"],
  cm: ["centimeter", "centimeters"], mm: ["millimeter", "millimeters"], ml: ["milliliter", "milliliters"],
  mL: ["milliliter", "milliliters"], lb: ["pound", "pounds"], lbs: ["pound", "pounds"], oz: ["ounce", "ounces"],
  ft: ["foot", "feet"], mi: ["mile", "miles"], mph: ["miles per hour", "miles per hour"],
  kph: ["kilometers per hour", "kilometers per hour"], ms: ["millisecond", "milliseconds"], Hz: ["hertz", "hertz"],
  kHz: ["kilohertz", "kilohertz"], MHz: ["megahertz", "megahertz"], GHz: ["gigahertz", "gigahertz"],
  KB: ["kilobyte", "kilobytes"], kB: ["kilobyte", "kilobytes"], MB: ["megabyte", "megabytes"],
  GB: ["gigabyte", "gigabytes"], TB: ["terabyte", "terabytes"], kW: ["kilowatt", "kilowatts"],
  kWh: ["kilowatt hour", "kilowatt hours"],
};
const UNIT_AFTER_NUMBER = new RegExp(`(?<![\\d.,])(${NUMBER})\\s?(${Object.keys(UNITS).sort((a, b) => b.length - a.length).join("|")})\\b`, "gu");

function unitWords(unit: string, n: string): string {
  const [one, many] = UNITS[unit];
  return n === "1" ? one : many;
}

function roman(r: string): number {
  const V: Record<string, number> = { I: 1, V: 5, X: 10 };
  let n = 0;
  for (let i = 0; i < r.length; i++) {
    const v = V[r[i]], next = V[r[i + 1]] ?? 0;
    n += v < next ? -v : v;
  }
  // only canonical numerals (rejects "IIII", "VV", "IC"): the reading must write back the same
  const write = (x: number) => "X".repeat(Math.floor(x / 10)) + ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"][x % 10];
  return n > 0 && n < 40 && write(n) === r ? n : 0;
}

function pluralize(w: string): string {
  return w.endsWith("y") ? `${w.slice(0, -1)}ies` : `${w}s`;
}
