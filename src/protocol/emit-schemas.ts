/** Writes protocol/schemas/*.json from the TypeBox definitions (npm run schemas). */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { allSchemas, PROTOCOL_VERSION } from "./messages.js";

export function renderSchemas(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, schema] of Object.entries(allSchemas())) {
    const doc = { $schema: "https://json-schema.org/draft/2020-12/schema", $id: `soundstorm/v${PROTOCOL_VERSION}/${name}.json`, ...schema };
    out[`${name}.json`] = JSON.stringify(doc, null, 2) + "\n";
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? "protocol/schemas";
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(renderSchemas())) writeFileSync(join(dir, file), text);
  console.log(`wrote ${Object.keys(renderSchemas()).length} schemas to ${dir}`);
}
