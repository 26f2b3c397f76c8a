/**
 * The browser demo's HTTP answers: the page at GET / and the ES modules it loads from /static/
 * (the compiled demo and SDK, read from dist/ next to this module). Only the modules listed are
 * served; their relative imports resolve to one another. No uWS here: uws-server.ts routes to it.
 */
import { readFileSync } from "node:fs";
import { DEMO_HTML } from "../demo/page.js";
import type { HttpAnswer } from "./voices.js";

/** Under /static/: paths relative to the compiled src/ (dist/src/). */
export const DEMO_MODULES: readonly string[] = ["demo/app.js", "demo/timeline.js", "sdk/client.js", "protocol/audio-header.js", "protocol/ids.js"];

const SRC_ROOT = new URL("../", import.meta.url);
const cache = new Map<string, string>();

/** The answer for a GET of `path` (without query), or null when the path is not the demo's. */
export function demoAnswer(path: string): HttpAnswer | null {
  if (path === "/" || path === "/index.html") return { status: "200 OK", body: DEMO_HTML, contentType: "text/html; charset=utf-8" };
  if (!path.startsWith("/static/")) return null;
  const rel = path.slice("/static/".length);
  if (!DEMO_MODULES.includes(rel)) return null;
  let body = cache.get(rel);
  if (body === undefined) {
    try {
      body = readFileSync(new URL(rel, SRC_ROOT), "utf8").replace(/\n\/\/# sourceMappingURL=.*\s*$/, "\n");
    } catch (e) {
      return { status: "500 Internal Server Error", body: `demo module ${rel} is not built (npm run build): ${(e as Error).message}\n`, contentType: "text/plain; charset=utf-8" };
    }
    cache.set(rel, body);
  }
  return { status: "200 OK", body, contentType: "text/javascript; charset=utf-8" };
}
