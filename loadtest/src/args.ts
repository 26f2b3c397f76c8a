/**
 * Command-line flags of the benchmark scripts (`npm run bench…`): `--help` prints the usage, a flag that is
 * unknown, misspelled or out of range stops the run with a one-line reason and the usage (exit code 2) before any
 * server starts, instead of a stack trace or a run on NaN. Every script reads its flags through `benchArgs`.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | undefined>;

export class UsageError extends Error {}

/** What a script should do with its argv: run with these values, or print `text` and exit with `code`. */
export type ArgsOutcome = { ok: true; values: Values } | { ok: false; code: 0 | 2; text: string };

export function readArgs(usage: string, options: Options, argv: readonly string[]): ArgsOutcome {
  let values: Values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: { ...options, help: { type: "boolean", short: "h" } }, strict: true }) as { values: Values });
  } catch (e) {
    return { ok: false, code: 2, text: `${(e as Error).message}\n${usage}` };
  }
  if (values.help) return { ok: false, code: 0, text: usage };
  return { ok: true, values: { ...values } };  // a plain object (parseArgs gives one without a prototype)
}

/** The script's flags, or the usage printed and the process ended (help: 0, bad flags: 2). */
export function benchArgs(usage: string, options: Options, argv: readonly string[] = process.argv.slice(2)): Values {
  const r = readArgs(usage, options, argv);
  if (r.ok) return r.values;
  (r.code === 0 ? console.log : console.error)(r.text);
  process.exit(r.code);
}

/** A string flag's value, or undefined when it is not given. */
export function stringFlag(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** A numeric flag: `integer` requires a whole number; the value must be at least `min`. Missing: `fallback`. */
export function numberFlag(values: Values, name: string, fallback: number, o: { min?: number; integer?: boolean } = {}): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
  const min = o.min ?? 0;
  if (!Number.isFinite(n) || n < min || (o.integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${o.integer ? "a whole number" : "a number"} of at least ${min}, got '${String(raw)}'`);
  }
  return n;
}

/** A comma-separated list of whole numbers, each at least `min` (e.g. --sweep 4,8,16). */
export function countListFlag(values: Values, name: string, fallback: number[], min = 1): number[] {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const parts = String(raw).split(",").map((s) => s.trim());
  const out = parts.map((p) => Number(p));
  if (parts.length === 0 || out.some((n, i) => parts[i] === "" || !Number.isInteger(n) || n < min)) {
    throw new UsageError(`--${name} must be whole numbers of at least ${min}, separated by commas, got '${String(raw)}'`);
  }
  return out;
}

/** `f(values)` with a UsageError turned into the reason and the usage on stderr and exit code 2. */
export function checked<T>(usage: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${e.message}\n${usage}`);
    process.exit(2);
  }
}
