/**
 * The config reference (docs/config.md) cannot drift from the schema: every top-level key the schema accepts has
 * a row and every row names a key it accepts, and each default the table states is the schema's.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stackConfigSchema } from "../../lib/config/schema";
import { PROJECT_DIR } from "../../plan/run";

const section = fs.readFileSync(path.join(PROJECT_DIR, "docs/config.md"), "utf8");
const rows = section
  .split("\n")
  .filter((l) => /^\| `[A-Za-z.<>]+`/.test(l))
  .map((l) => l.split("|").map((c) => c.trim()))
  .map(([, key, fallback]) => ({ key: key!.replace(/`/g, ""), fallback: fallback! }));

describe("docs/config.md", () => {
  it("has one row per top-level key of the schema, and no other", () => {
    const documented = rows.map((r) => r.key.replace(/\..*$/, "")).sort();
    expect(documented).toEqual(Object.keys(stackConfigSchema.shape).sort());
  });

  it("states the schema's own default wherever it states a literal one", () => {
    const literal = rows.filter((r) => /^`[^`]+`$/.test(r.fallback));
    expect(literal.length).toBeGreaterThan(5);
    for (const { key, fallback } of literal) {
      const shape = stackConfigSchema.shape as Record<string, { parse(v: unknown): unknown }>;
      const value = shape[key]!.parse(undefined);
      const text = typeof value === "string" ? value : JSON.stringify(value);
      expect(`${key}: ${fallback.replace(/`/g, "")}`).toBe(`${key}: ${text}`);
    }
  });
});
