/**
 * Pulumi.yaml's `config` block as the CLI reads it. Found by the e2e suite on the real engine: a key
 * declared without a default is required ("Stack 'staging' is missing configuration values
 * 'commitSha', 'promoteFrom' and 'sourceUrl'"), which the mocks never enforce.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import semver from "semver";
import YAML from "yaml";
import { describe, expect, it } from "vitest";
import { stackConfigSchema } from "../../lib/config/schema";
import { PROJECT_DIR } from "../../plan/run";

const project = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8")) as {
  config: Record<string, { type: string; default?: unknown }>;
  options?: { refresh?: string };
  requiredPulumiVersion?: string;
};
const lock = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version: string }>;
};

describe("the toolchain's versions", () => {
  it("keeps TypeScript inside what @pulumi/pulumi and typescript-eslint load (below 7: CONTRIBUTING.md)", () => {
    const ts = lock.packages["node_modules/typescript"]!.version;
    expect(semver.major(ts)).toBeLessThan(7);
    for (const user of ["@pulumi/pulumi", "@typescript-eslint/typescript-estree"]) {
      const peers = JSON.parse(
        fs.readFileSync(path.join(PROJECT_DIR, "node_modules", user, "package.json"), "utf8"),
      ) as { peerDependencies: Record<string, string> };
      expect(
        semver.satisfies(ts, peers.peerDependencies.typescript!),
        `${user}: ${peers.peerDependencies.typescript}`,
      ).toBe(true);
    }
  });
});

describe("Pulumi.yaml requiredPulumiVersion", () => {
  it("asks for at least the CLI the e2e suite builds and proves the program on: @pulumi/pulumi's version", () => {
    // tests/e2e/toolchain.sh builds the CLI at exactly the SDK's version from package-lock.json.
    expect(project.requiredPulumiVersion).toBe(`>=${lock.packages["node_modules/@pulumi/pulumi"]!.version}`);
  });
});

describe("Pulumi.yaml config declarations", () => {
  it("declare only keys with a default, so no optional key becomes required", () => {
    const without = Object.entries(project.config)
      .filter(([, decl]) => !("default" in decl))
      .map(([key]) => key);
    expect(without).toEqual([]);
  });

  it("give the schema's own defaults, so the CLI and the program agree", () => {
    const defaults = stackConfigSchema.parse({ services: { api: {} } }) as Record<string, unknown>;
    for (const [key, decl] of Object.entries(project.config)) {
      expect(decl.default, key).toEqual(defaults[key]);
    }
  });

  it("declare only keys the schema knows", () => {
    const known = Object.keys(stackConfigSchema.shape);
    for (const key of Object.keys(project.config)) expect(known, key).toContain(key);
  });
});

describe("Pulumi.yaml options", () => {
  // The release steps move Cloud Run traffic outside the Service resource, whose update re-sends the
  // traffic in state (docs/safe-release.md): without a refresh first, a later template change would
  // put traffic back on the revision the state remembers.
  it("refresh before every preview, update and destroy", () => {
    expect(project.options?.refresh).toBe("always");
  });
});
