/**
 * The Deployments path filters (deployments/settings.ts DEPLOY_PATHS) against what the program
 * actually loads: a push that changes any of it must deploy, and the list names nothing else. Before
 * issue 21 the list lacked `targets/**`, so a push touching only a deployment target deployed nothing.
 */
import * as fs from "node:fs";
import { spawnSync } from "node:child_process";
import * as esbuild from "esbuild";
import picomatch from "picomatch";
import { beforeAll, describe, expect, it } from "vitest";
import { DEPLOY_PATHS } from "../../deployments/settings";
import { PROJECT_DIR } from "../../plan/run";
import * as scripts from "../../lib/scripts";

let loaded: string[];

/** Local files esbuild reaches from the entry points, following every import (packages left out). */
async function importGraph(entryPoints: string[]): Promise<string[]> {
  const result = await esbuild.build({
    absWorkingDir: PROJECT_DIR,
    entryPoints,
    bundle: true,
    write: false,
    outdir: "out",
    metafile: true,
    platform: "node",
    packages: "external",
    logLevel: "silent",
  });
  return Object.keys(result.metafile.inputs);
}

beforeAll(async () => {
  // The program, and every script a step of it runs (`node_modules/.bin/tsx scripts/<x>.ts`).
  const stepScripts = (Object.values(scripts) as unknown[])
    .filter((v): v is string => typeof v === "string")
    .map((command) => /\bscripts\/[\w-]+\.ts\b/.exec(command)?.[0])
    .filter((s): s is string => s !== undefined);
  expect(stepScripts.length).toBeGreaterThanOrEqual(3);
  const tracked = spawnSync("git", ["ls-files"], { cwd: PROJECT_DIR, encoding: "utf8" }).stdout.split("\n");
  loaded = [
    ...(await importGraph(["index.ts", ...stepScripts])),
    // What the engine and tsx read, and what the images are built from.
    "Pulumi.yaml",
    ...fs.readdirSync(PROJECT_DIR).filter((f) => /^Pulumi\.[\w-]+\.yaml$/.test(f) && f !== "Pulumi.yaml"),
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    ...tracked.filter((f) => f.startsWith("apps/")),
  ].sort();
}, 60_000);

const filters = (stack: string) => DEPLOY_PATHS.map((p) => p.replace("{stack}", stack));

describe("Deployments path filters", () => {
  it("cover every file the program, its steps and its builds load", () => {
    expect(loaded).toContain("targets/cloud-run.ts");
    expect(loaded).toContain("apps/api/Dockerfile");
    for (const stack of ["staging", "prod"]) {
      const match = picomatch(filters(stack), { dot: true });
      const missed = loaded.filter(
        (f) => !match(f) && !(/^Pulumi\.[\w-]+\.yaml$/.test(f) && f !== `Pulumi.${stack}.yaml`),
      );
      expect(missed, `files no filter of ${stack} covers`).toEqual([]);
    }
  });

  it("name nothing the program does not load, so docs and tests deploy nothing", () => {
    const unused = filters("staging").filter(
      (f) => !loaded.some((file) => picomatch(f, { dot: true })(file)),
    );
    expect(unused).toEqual([]);
    const match = picomatch(filters("staging"), { dot: true });
    for (const f of [
      "README.md",
      "docs/safe-release.md",
      "tests/lib/config.test.ts",
      "policy/index.ts",
      "Pulumi.prod.yaml",
    ]) {
      expect(match(f), f).toBe(false);
    }
  });
});
