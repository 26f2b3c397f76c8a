/** Every metric a dashboard queries must be one the server exports. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import type { App } from "../src/app.js";
import { startTestServer } from "./helpers.js";

let app: App;
before(async () => { app = await startTestServer(); });
after(async () => { await app.close(); });

const PROMQL_WORDS = new Set(["sum", "by", "rate", "histogram_quantile", "le", "avg", "max", "min", "irate", "increase", "without", "on", "ignoring", "label_values", "count", "job", "instance", "stage", "graph", "code", "outcome"]);

function queriedMetrics(dashboard: unknown): string[] {
  const exprs: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      for (const [k, x] of Object.entries(o)) {
        // panel targets carry `expr`; query variables carry a PromQL `query` (datasource variables do not)
        if ((k === "expr" || (k === "query" && o.type === "query")) && typeof x === "string") exprs.push(x);
        else walk(x);
      }
    }
  };
  walk(dashboard);
  const names = new Set<string>();
  for (const e of exprs) {
    const stripped = e.replace(/\{[^}]*\}/g, "").replace(/\[[^\]]*\]/g, "").replace(/"[^"]*"/g, "");
    for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
      if (m[0].startsWith("soundstorm_")) names.add(m[0]);
      else assert.ok(PROMQL_WORDS.has(m[0]) || /^\$/.test(m[0]), `unexpected identifier ${m[0]} in ${e}`);
    }
  }
  return [...names];
}

test("every metric the dashboards query is exported by the server", async () => {
  const body = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  const families = new Map<string, string>();
  for (const m of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1], m[2]);
  const files = readdirSync("grafana/dashboards").filter((f) => f.endsWith(".json"));
  assert.ok(files.length > 0);
  let checked = 0;
  for (const f of files) {
    const names = queriedMetrics(JSON.parse(readFileSync(`grafana/dashboards/${f}`, "utf8")));
    assert.ok(names.length >= 10, `${f} queries only ${names.length} metrics`);
    for (const n of names) {
      const base = n.replace(/_(bucket|sum|count)$/, "");
      const type = families.get(n) ?? families.get(base);
      assert.ok(type, `${f}: ${n} is not exported`);
      if (n !== base && !families.has(n)) assert.equal(type, "histogram", `${f}: ${n} implies a histogram`);
      checked++;
    }
  }
  assert.ok(checked > 0);
});
