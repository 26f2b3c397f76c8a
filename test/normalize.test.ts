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
