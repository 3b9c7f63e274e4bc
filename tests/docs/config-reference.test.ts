/**
 * The config reference (docs/config.md) cannot drift from the schema: every top-level key the schema accepts has
 * a row and every row names a key it accepts, and each default the table states is the schema's. Every
 * key a target's service schema takes is in the row for all services or in that target's own row.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stackConfigSchema } from "../../lib/config/schema";
import { SERVICE_TARGETS } from "../../lib/config/services";
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

  it("names every key of each target's services, in the row for all services or in the target's own", () => {
    const cells = (label: string) => {
      const line = section.split("\n").find((l) => l.startsWith(`| ${label} `));
      expect(line, `a row "${label}" in docs/config.md`).toBeDefined();
      return new Set([...line!.split("|")[3]!.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!));
    };
    const everyService = cells("`services.<name>`");
    const keysOf = (t: (typeof SERVICE_TARGETS)[number]) =>
      Object.keys((t.schema as unknown as { shape: Record<string, unknown> }).shape);
    for (const t of SERVICE_TARGETS) {
      const own = cells(`${t.runtime} only`);
      const missing = keysOf(t).filter((k) => !everyService.has(k) && !own.has(k));
      expect(missing, `${t.target} keys docs/config.md does not name`).toEqual([]);
    }
    // What the row for all services names, every target takes.
    for (const k of everyService) {
      if (!/^[a-z][A-Za-z]+$/.test(k) || [...SERVICE_TARGETS.map((t) => t.target), "private"].includes(k))
        continue;
      for (const t of SERVICE_TARGETS) expect(keysOf(t), `${t.target} takes ${k}`).toContain(k);
    }
  });
});
