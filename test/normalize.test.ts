import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizeText, numberToWords, ordinalToWords, yearToWords } from "../src/pipeline/text/normalize.js";

test("numbers, ordinals and years in words", () => {
  assert.equal(numberToWords(0), "zero");
  assert.equal(numberToWords(42), "forty-two");
  assert.equal(numberToWords(1205), "one thousand two hundred five");
  assert.equal(numberToWords(3_000_019), "three million nineteen");
  assert.equal(ordinalToWords(1), "first");
  assert.equal(ordinalToWords(22), "twenty-second");
  assert.equal(ordinalToWords(40), "fortieth");
  assert.equal(ordinalToWords(12), "twelfth");
  assert.equal(yearToWords(1984), "nineteen eighty-four");
  assert.equal(yearToWords(2005), "two thousand five");
  assert.equal(yearToWords(1905), "nineteen oh five");
});

test("the issue's example is read sensibly", () => {
  assert.equal(normalizeText("Dr. Smith paid $42 on 3/4."), "Doctor Smith paid forty-two dollars on March fourth.");
});

test("currency, percent, times, fractions, abbreviations, symbols", () => {
  const cases: [string, string][] = [
    ["It costs $3.50 today", "It costs three dollars and fifty cents today"],
    ["a $1 coin", "a one dollar coin"],
    ["$2.5 million budget", "two point five million dollars budget"],
    ["£1,200", "one thousand two hundred pounds"],
    ["up 15% or 2.5%", "up fifteen percent or two point five percent"],
    ["the 3rd and 21st", "the third and twenty-first"],
    ["at 3:30 pm and 10:05", "at three thirty p m and ten oh five"],
    ["add 3/4 cup", "add three quarters cup"],
    ["1/2 of it", "one half of it"],
    ["in 1984 and the 1990s", "in nineteen eighty-four and the nineteen nineties"],
    ["The 1990 season was a 1967 film's remake.", "The nineteen ninety season was a nineteen sixty-seven film's remake."],
    ["the 1500 men and 1234 more", "the fifteen hundred men and one thousand two hundred thirty-four more"],
    ["Mr. Jones vs. Mrs. Lee", "Mister Jones versus Missus Lee"],
    ["salt & pepper", "salt and pepper"],
    ["page 7", "page seven"],
    ["  many\t spaces \n here ", "many spaces here"],
    ["\u201cquoted\u201d it\u2019s", "\"quoted\" it's"],
  ];
  for (const [input, want] of cases) assert.equal(normalizeText(input), want, input);
});

test("numbers past 15 digits are read digit by digit from the text, never rounded or in exponent form", () => {
  assert.equal(normalizeText("order 12345678901234567890"),
    "order one two three four five six seven eight nine zero one two three four five six seven eight nine zero");
  const long = "9".repeat(400);
  const out = normalizeText(`code ${long} ok`);
  assert.equal(out, `code ${Array(400).fill("nine").join(" ")} ok`);
  assert.doesNotMatch(normalizeText(`$${"1".repeat(25)} and 1,234,567,890,123,456,789`), /e\+|infinity|NaN/i);
  assert.equal(normalizeText("$12345678901234567"), "one two three four five six seven eight nine zero one two three four five six seven dollars");
  // up to 15 digits still in words
  assert.equal(normalizeText("999999999999999"), "nine hundred ninety-nine trillion nine hundred ninety-nine billion nine hundred ninety-nine million nine hundred ninety-nine thousand nine hundred ninety-nine");
});

test("decimal commas, minus signs, codes, phone numbers, ranges, units and am/pm are read as meant", () => {
  const cases: [string, string][] = [
    ["Der Preis: €2,99", "Der Preis: two euros and ninety-nine cents"],
    ["$1,200.50", "one thousand two hundred dollars and fifty cents"],
    ["up 1,5%", "up one point five percent"],
    ["It was -5 degrees", "It was minus five degrees"],
    ["ZIP 02134 or 007", "ZIP zero two one three four or zero zero seven"],
    ["call 555-1234 now", "call five five five, one two three four now"],
    ["5-10 people, won 3\u20132", "five to ten people, won three to two"],
    ["5kg and 1 kg, 100 MB", "five kilograms and one kilogram, one hundred megabytes"],
    ["a 5G phone in 3D", "a five G phone in three D"],
    ["at 10am or 9 a.m. tomorrow", "at ten a m or nine a m tomorrow"],
    ["We met at 9 a.m.", "We met at nine a m."],
    ["the 90s and COVID19", "the nineties and COVID nineteen"],
  ];
  for (const [input, want] of cases) assert.equal(normalizeText(input), want, input);
});

test("fractions only where they are fractions; vulgar fraction characters", () => {
  assert.equal(normalizeText("open 24/7, a 50/50 chance, 3/4 cup"), "open twenty-four seven, a fifty fifty chance, three quarters cup");
  assert.equal(normalizeText("½ cup and 1½ cups"), "one half cup and one and one half cups");
});

test("emoji, CJK and lone surrogates are dropped, not spelled out; Roman numerals after names and 'War'", () => {
  assert.equal(normalizeText("Hi \u{1F600} there \u2764\uFE0F \u{1F44D}\u{1F3FD}"), "Hi there");
  assert.equal(normalizeText("\u4f60\u597d"), "");
  assert.equal(normalizeText("Hello \ud83d world a\udc00b"), "Hello world a b");
  assert.equal(normalizeText("World War II and Henry VIII, not IIII"), "World War two and Henry the eighth, not IIII");
});

test("a sentence-final abbreviation keeps its full stop; a mid-sentence one does not", () => {
  assert.equal(normalizeText("apples, etc. Then pears etc. and plums"), "apples, et cetera. Then pears et cetera and plums");
  assert.equal(normalizeText("John Smith Jr. He left."), "John Smith Junior. He left.");
});
