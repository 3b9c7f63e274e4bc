/**
 * Issue 21 renamed and merged grants: one resource per (resource, role, member), named by that
 * binding. An existing stack must keep every access through the change. This plans today's program
 * with `--state` against an export of the same config as the code before it (e225be1) registered it
 * (tests/fixtures/state/), as `npm run plan -- --state <export>` does for a user.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planMain } from "../../plan/cli";
import { PROJECT_DIR } from "../../plan/run";
import type { ResourceChange } from "../../plan/state-diff";
import { migrationStackFile } from "../fixtures/state/migration-overrides";

const EXPORT = path.join(PROJECT_DIR, "tests/fixtures/state/staging-e225be1.json");
let dir: string;
let changes: ResourceChange[];
let report: { warnings: string[]; changes: ResourceChange[] };
let text: string;

async function plan(...args: string[]): Promise<string> {
  const out: string[] = [];
  const code = await planMain(["node", "plan", "--dir", dir, ...args], {
    out: (l) => out.push(l),
    err: () => {},
  });
  if (code !== 0) throw new Error(`plan exited ${code}:\n${out.join("\n")}`);
  return out.join("\n");
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-migration-"));
  for (const entry of ["Pulumi.yaml", "apps", "node_modules", "scripts"]) {
    fs.symlinkSync(path.join(PROJECT_DIR, entry), path.join(dir, entry));
  }
  fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), migrationStackFile(PROJECT_DIR));
  report = JSON.parse(await plan("--json", "--state", EXPORT));
  changes = report.changes;
  text = await plan("--state", EXPORT);
}, 120_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const IAM = /IamMember$/;

describe("upgrading a stack deployed before issue 21", () => {
  it("replaces no grant and no service", () => {
    expect(changes.filter((c) => c.change === "replace")).toEqual([]);
    expect(changes.filter((c) => c.change === "create" && IAM.test(c.type))).toEqual([]);
    expect(
      changes.filter((c) => c.type === "gcp:cloudrunv2/service:Service").map((c) => [c.change, c.changed]),
    ).toEqual([
      ["same", []],
      ["same", []],
    ]);
  });

  it("keeps each renamed grant through its alias, with nothing to change", () => {
    const renamed = changes
      .filter((c) => c.renamedFrom)
      .map((c) => [c.name, c.renamedFrom!.split("::").pop(), c.change])
      .sort();
    expect(renamed).toEqual([
      ["api-invoker-allusers", "api-public-invoker", "same"],
      ["api-secret-acme-shared/shared-token", "api-secret-shared_token", "same"],
      ["api-secret-api-key", "api-secret-api_key", "same"],
      ["images-reader-cloud-run-agent-acme-apps-staging", "api-image-reader", "same"],
      // Issue 23: one member slug for every grant name (lib/names.ts memberSlug).
      [
        "images-reader-serviceaccount-deployer-acme-apps-prod-iam-gserviceaccount-com",
        "images-reader-serviceAccount-deployer-acme-apps-prod-iam-gserviceaccount-com",
        "same",
      ],
    ]);
  });

  it("a secret in another project now states its own project, which the provider already stored: no replacement", () => {
    const grant = changes.find((c) => c.name === "api-secret-acme-shared/shared-token")!;
    expect(grant.changed).toEqual([]);
  });

  it("keeps the grants left over from before as they were, retained, so nothing deletes a binding", () => {
    // Two services each had a reader grant of one binding, and an invoker was granted twice.
    expect(changes.filter((c) => c.change === "delete")).toEqual([]);
    for (const name of ["web-image-reader", "web-health-invoker"]) {
      expect(changes.find((c) => c.name === name)).toMatchObject({ change: "same", changed: [] });
    }
    expect(report.warnings.filter((w) => w.includes("revoke"))).toEqual([]);
    expect(text).toMatch(/api-secret-api-key .*\(was api-secret-api_key, an alias\)/);
  });
});

describe("upgrading it across issue 32 (scan gate, release-step image checks)", () => {
  it("adds one scan step per image and updates each release step in place: nothing is released again", () => {
    const commands = changes.filter((c) => c.type === "command:local:Command");
    const scans = commands.filter((c) => c.name.endsWith("-scan"));
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.every((c) => c.change === "create")).toBe(true);
    // The release steps' command line gains the image checks: an update, whose command is `true`.
    const releases = commands.filter((c) => c.name.endsWith("-release") && c.change !== "delete");
    expect(releases.map((c) => [c.name, c.change]).sort()).toEqual([
      ["api-release", "update"],
      ["web-release", "update"],
      ["worker-release", "update"],
    ]);
    expect(releases.filter((c) => c.change === "update").every((c) => c.changed.includes("create"))).toBe(
      true,
    );
  });
});
