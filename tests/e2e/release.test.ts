/**
 * Safe release on the real engine: the product's CloudRunService and LambdaFunction (tests/e2e/release),
 * built by real BuildKit, verified in the TLS registry, then released by the real release step through
 * the real Google and AWS clients, against tools/fake-cloud.ts on loopback (tests/e2e/cloud-env.ts).
 * Scenarios share one stack in order, as a team's successive deploys do: first release, same-commit
 * re-runs, a new release, a failing gate, a failure at a gradual step, a kill mid-step.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrafficEvent } from "../../tools/fake-cloud";
import { stackIdentity, startCloud, type CloudEnvironment } from "./cloud-env";
import { linkProject, recordTimings, startEnvironment, type CliResult, type E2eEnvironment } from "./env";

const SHA = "5b4c3d2e1f0a9b8c7d6e5f403f2a6c1d9b8e7f6a";
const SERVICE = "projects/acme-e2e/locations/us-central1/services/api";
let e: E2eEnvironment;
let c: CloudEnvironment;
let dir: string;
const timings: Record<string, number> = {};

const text = (r: CliResult) => `${r.stdout.slice(-6000)}\n${r.stderr.slice(-6000)}`;
const ok = (r: CliResult, what: string) => {
  expect(r.code, `${what} failed:\n${text(r)}`).toBe(0);
  return r;
};
const config = async (key: string, value: string) =>
  ok(await c.pulumi(["config", "set", `e2e:${key}`, value]), `config set ${key}`);
const up = (...extra: string[]) => c.pulumi(["up", "--yes", "--skip-preview", ...extra]);
const outputs = async () =>
  JSON.parse(ok(await c.pulumi(["stack", "output", "--json"]), "stack output").stdout) as {
    revision: string;
    version: string;
  };
const live = () => c.cloud.services.get(SERVICE)!.traffic.filter((t) => t.percent > 0);
const alias = () => c.cloud.functions.get("worker")!.aliases.live!;
const runEvents = () =>
  c.cloud.history.filter((h): h is Extract<TrafficEvent, { kind: "cloudrun" }> => h.kind === "cloudrun");
const share = (ev: Extract<TrafficEvent, { kind: "cloudrun" }>, revision: string) =>
  ev.traffic.find((t) => t.revision === revision)?.percent ?? 0;

beforeAll(async () => {
  e = await startEnvironment();
  // The project: tests/e2e/release's program, the image fixtures, the repository's modules and scripts.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-release-"));
  linkProject(dir, "tests/e2e/release", "e2e-release");
  c = await startCloud(e, {
    dir,
    stacks: { release: stackIdentity("acme-e2e", "123456789012", "111111111111") },
    services: ["api"],
  });
  for (const [k, v] of Object.entries({
    registry: e.registry.host,
    commitSha: SHA,
    commitTimestamp: "1763900000",
  })) {
    await config(k, v);
  }
}, 40 * 60_000);

afterAll(async () => {
  await c?.stop();
  e?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  recordTimings("e2eRelease", timings);
});

describe("safe release on the real engine", () => {
  let first: { revision: string; version: string };

  it("first release: each cloud's new revision or version is gated alone, then serves", async () => {
    const r = ok(await up(), "first up");
    timings.firstUpMs = r.ms;
    first = await outputs();
    expect(first.revision).toMatch(new RegExp(`^api-${SHA.slice(0, 7)}-[0-9a-f]{5}$`));
    expect(first.version).toBe("1");
    expect(live()).toEqual([expect.objectContaining({ revision: first.revision, percent: 100 })]);
    expect(c.cloud.healthChecks).toEqual(expect.arrayContaining([first.revision, "1"]));
    // Lambda's alias is made after version 1 passed its gate.
    expect(alias()).toMatchObject({ FunctionVersion: "1" });
  });

  it("a same-commit re-run changes nothing: preview and up --expect-no-changes, also after pulumi refresh", async () => {
    const before = c.cloud.history.length;
    ok(await c.pulumi(["preview", "--expect-no-changes"]), "preview --expect-no-changes");
    const again = ok(await up("--expect-no-changes"), "up --expect-no-changes");
    timings.sameCommitUpMs = again.ms;
    ok(await c.pulumi(["refresh", "--yes", "--skip-preview"]), "refresh");
    ok(await c.pulumi(["preview", "--expect-no-changes"]), "preview --expect-no-changes after refresh");
    expect(c.cloud.history.length).toBe(before);
  });

  let second: { revision: string; version: string };
  it("an unrelated change (an env var) is released the same way and never moves traffic back", async () => {
    await config("logLevel", "debug");
    c.cloud.history.length = 0;
    const r = ok(await up(), "up with a new env var");
    timings.releaseUpMs = r.ms;
    second = await outputs();
    expect(second.revision).not.toBe(first.revision);
    expect(second.version).toBe("2");
    // The new revision had 0% until its own gate passed; the previous one then gave up all of it.
    const events = runEvents();
    expect(share(events[0]!, second.revision)).toBe(0);
    expect(share(events[0]!, first.revision)).toBe(100);
    expect(live()).toEqual([expect.objectContaining({ revision: second.revision, percent: 100 })]);
    expect(alias()).toMatchObject({ FunctionVersion: "2" });
    ok(await c.pulumi(["preview", "--expect-no-changes"]), "preview --expect-no-changes after the release");
  });

  it("a failing gate leaves 100% of traffic where it was, for each cloud, and a fixed re-run releases", async () => {
    c.cloud.failNew = true;
    await config("logLevel", "warn");
    c.cloud.history.length = 0;
    const r = await up();
    expect(r.code).not.toBe(0);
    expect(text(r)).toMatch(
      new RegExp(
        `Cloud Run service api: release of api-${SHA.slice(0, 7)}-[0-9a-f]{5} failed its health gate before any traffic \\(last answer: https://next---api-123456789012\\.us-central1\\.run\\.app/health answered 503 "unhealthy"\\); traffic: 100% on ${second.revision}, unchanged`,
      ),
    );
    expect(text(r)).toContain(
      "Lambda function worker: release of 3 failed its health gate before any traffic",
    );
    expect(text(r)).toContain("traffic: 100% on 2, unchanged");
    expect(live()).toEqual([expect.objectContaining({ revision: second.revision, percent: 100 })]);
    expect(alias()).toMatchObject({ FunctionVersion: "2" });
    expect(
      runEvents().every((ev) => ev.traffic.every((t) => t.revision === second.revision || t.percent === 0)),
    ).toBe(true);

    // The fix is deployed (here: the build answers again); a re-run at the same commit retries the release.
    c.cloud.failNew = false;
    c.cloud.unhealthy.clear();
    ok(await up(), "re-run after the fix");
    const third = await outputs();
    expect(live()).toEqual([expect.objectContaining({ revision: third.revision, percent: 100 })]);
    expect(alias()).toMatchObject({ FunctionVersion: third.version });
  });

  it("a failure at a gradual step returns all traffic to what served before", async () => {
    const served = live()[0]!.revision!;
    const servedVersion = alias().FunctionVersion;
    await config("rollout", JSON.stringify({ steps: [10, 50], waitSeconds: 1 }));
    await config("logLevel", "error");
    // Healthy at the first gate, broken once it has traffic.
    c.cloud.failNew = true;
    c.cloud.failNewAfter = 1;
    c.cloud.history.length = 0;
    const r = await up();
    c.cloud.failNew = false;
    c.cloud.failNewAfter = 0;
    expect(r.code).not.toBe(0);
    expect(text(r)).toMatch(/Cloud Run service api: release of \S+ failed its health gate at step 1 \(10%\)/);
    expect(text(r)).toContain(`traffic: 100% on ${served}, returned`);
    expect(runEvents().some((ev) => ev.traffic.some((t) => t.revision !== served && t.percent === 10))).toBe(
      true,
    );
    expect(live()).toEqual([expect.objectContaining({ revision: served, percent: 100 })]);
    expect(alias()).toEqual({
      FunctionVersion: servedVersion,
      RoutingConfig: { AdditionalVersionWeights: {} },
    });
    c.cloud.unhealthy.clear();
    ok(await up(), "re-run after the fix");
  });

  it("an update killed mid-step, then pulumi cancel and pulumi up, converges to the new version fully live", async () => {
    await config("rollout", JSON.stringify({ steps: [10, 50], waitSeconds: 8 }));
    await config("logLevel", "fatal");
    c.cloud.history.length = 0;
    const child = c.spawnPulumi(["up", "--yes", "--skip-preview"]);
    let log = "";
    child.stdout?.on("data", (d) => (log += d));
    child.stderr?.on("data", (d) => (log += d));
    const deadline = Date.now() + 5 * 60_000;
    while (!runEvents().some((ev) => ev.traffic.some((t) => t.percent === 10))) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`no split was reached:\n${log.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(-child.pid!, "SIGKILL");
    await new Promise((r) => child.once("close", r));
    const split = live();
    expect(split.length).toBe(2);

    ok(await c.pulumi(["cancel", "--yes"]), "pulumi cancel");
    const r = ok(await up(), "up after the kill");
    timings.resumeAfterKillMs = r.ms;
    const after = await outputs();
    expect(live()).toEqual([expect.objectContaining({ revision: after.revision, percent: 100 })]);
    expect(alias()).toMatchObject({ FunctionVersion: after.version });
    ok(await c.pulumi(["preview", "--expect-no-changes"]), "preview --expect-no-changes after converging");
  });
});
