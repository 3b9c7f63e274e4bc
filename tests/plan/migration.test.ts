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
  return planIn(dir, ...args);
}
async function planIn(where: string, ...args: string[]): Promise<string> {
  const out: string[] = [];
  const code = await planMain(["node", "plan", "--dir", where, ...args], {
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
  // The upgrade as docs/upgrading.md says it: a stack made before issue 21 sets keepRetainedGrants.
  fs.writeFileSync(
    path.join(dir, "Pulumi.staging.yaml"),
    migrationStackFile(PROJECT_DIR, { keepRetainedGrants: true }),
  );
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

describe("issue 34: the retained grants are the old stacks' only (keepRetainedGrants)", () => {
  let fresh: string;
  beforeAll(() => {
    fresh = fs.mkdtempSync(path.join(os.tmpdir(), "plan-fresh-"));
    for (const entry of ["Pulumi.yaml", "apps", "node_modules", "scripts"]) {
      fs.symlinkSync(path.join(PROJECT_DIR, entry), path.join(fresh, entry));
    }
    fs.writeFileSync(path.join(fresh, "Pulumi.staging.yaml"), migrationStackFile(PROJECT_DIR));
  });
  afterAll(() => fs.rmSync(fresh, { recursive: true, force: true }));

  it("a new stack registers one grant per binding: neither retained name", async () => {
    const r = JSON.parse(await planIn(fresh, "--json")) as { resources: { name: string }[] };
    const names = r.resources.map((x) => x.name);
    expect(names).toContain("images-reader-cloud-run-agent-acme-apps-staging");
    expect(names).toContain("web-invoker-serviceaccount-health-acme-apps-staging-iam-gserviceaccount-com");
    expect(names.filter((n) => n === "web-image-reader" || n === "web-health-invoker")).toEqual([]);
  });

  it("an old stack without the key is warned before anything is revoked, and told which key keeps them", async () => {
    const r = JSON.parse(await planIn(fresh, "--json", "--state", EXPORT)) as typeof report;
    const deletes = r.changes.filter((c) => c.change === "delete").map((c) => [c.name, c.revokes]);
    expect(deletes.sort()).toEqual([
      [
        "web-health-invoker",
        "run-service acme-apps-staging us-central1 web roles/run.invoker serviceaccount:health@acme-apps-staging.iam.gserviceaccount.com",
      ],
      [
        "web-image-reader",
        expect.stringContaining("apps roles/artifactregistry.reader serviceaccount:service-"),
      ],
    ]);
    expect(r.warnings.filter((w) => w.includes("would revoke"))).toEqual([
      expect.stringContaining("multicloud-deploy:keepRetainedGrants: true"),
      expect.stringContaining("multicloud-deploy:keepRetainedGrants: true"),
    ]);
  });

  it("after one update with the key, turning it off drops them from the state: no cloud call, nothing revoked", async () => {
    // The export after `pulumi up` with keepRetainedGrants: the two grants carry retainOnDelete.
    const exported = JSON.parse(fs.readFileSync(EXPORT, "utf8")) as {
      deployment: { resources: { urn: string; retainOnDelete?: boolean }[] };
    };
    for (const res of exported.deployment.resources)
      if (/::web-(image-reader|health-invoker)$/.test(res.urn)) res.retainOnDelete = true;
    const retained = path.join(fresh, "after-keep.json");
    fs.writeFileSync(retained, JSON.stringify(exported));
    const r = JSON.parse(await planIn(fresh, "--json", "--state", retained)) as typeof report;
    const deletes = r.changes.filter((c) => c.change === "delete");
    expect(deletes.map((c) => [c.name, c.revokes, c.retained]).sort()).toEqual([
      ["web-health-invoker", undefined, true],
      ["web-image-reader", undefined, true],
    ]);
    expect(r.warnings.filter((w) => w.includes("revoke"))).toEqual([]);
    expect(await planIn(fresh, "--state", retained)).toMatch(
      /web-image-reader .*retained: dropped from the state, no cloud call/,
    );
  });
});
