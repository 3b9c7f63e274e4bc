/**
 * Safe release on the real engine: the product's CloudRunService and LambdaFunction (tests/e2e/release),
 * built by real BuildKit, verified in the TLS registry, then released by the real release step through
 * the real Google and AWS clients, against tools/fake-cloud/ on loopback (tests/e2e/cloud-env.ts).
 * Scenarios share one stack in order, as a team's successive deploys do: first release, same-commit
 * re-runs, a new release, a failing gate, a failure at a gradual step, a kill mid-step.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrafficEvent } from "../../tools/fake-cloud";
import { stackIdentity, startCloud, type CloudEnvironment } from "./cloud-env";
import { startUsers } from "./users";
import {
  linkProject,
  recordTimings,
  REPO,
  startEnvironment,
  type CliResult,
  type E2eEnvironment,
} from "./env";

const SHA = "5b4c3d2e1f0a9b8c7d6e5f403f2a6c1d9b8e7f6a";
const SERVICE = "projects/acme-e2e/locations/us-central1/services/api";
const IDENTITY = stackIdentity("acme-e2e", "123456789012", "111111111111");
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
/** The resources in the stack's state, as `pulumi stack export` gives them. */
const stateResources = async () =>
  (
    JSON.parse(ok(await c.pulumi(["stack", "export"]), "stack export").stdout) as {
      deployment: { resources: { urn: string; type: string; outputs?: Record<string, any> }[] };
    }
  ).deployment.resources;
/** A release step's log: its Command's `stderr` output in the stack's state. */
const stepLog = async (name: string) => {
  const step = (await stateResources()).find(
    (r) => r.type === "command:local:Command" && r.urn.endsWith(`::${name}`),
  );
  return step?.outputs?.stderr ?? "";
};
const live = () => c.cloud.services.get(SERVICE)!.traffic.filter((t) => t.percent > 0);
const alias = () => c.cloud.functions.get("worker")!.aliases.live!;
const lambdaEvents = () =>
  c.cloud.history.filter((h): h is Extract<TrafficEvent, { kind: "lambda" }> => h.kind === "lambda");
/** Users of both services while an update runs: requests through the service URL and the alias. */
const users = (many = 1) =>
  startUsers({
    users: many,
    ca: e.ca.cert,
    serviceHost: "api-123456789012.us-central1.run.app",
    fn: "worker",
    alias: "live",
    awsAccessKeyId: IDENTITY.awsAccessKeyId,
  });
/**
 * The suites' traffic analysis: the stand-ins publish 2 s late (cloud-env.ts E2E_METRIC_DELAY_MS), so
 * a step reads 3 s after its wait; a few users' requests are enough to judge.
 */
const ANALYSIS = { minRequests: 10, delaySeconds: 3, maxHoldSeconds: 4 };
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
    stacks: { release: IDENTITY },
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

  it("drift detection after a release reports no drift for the traffic its steps moved, and reports a change made by hand", async () => {
    // What the release steps moved is not in state: state has what the update wrote before them.
    const resources = await stateResources();
    const saved = (type: string) => resources.find((r) => r.type === type)!.outputs!;
    const servedInState = saved("gcp:cloudrunv2/service:Service").traffics.filter(
      (t: { percent: number }) => t.percent > 0,
    );
    expect(servedInState).not.toEqual(live());
    expect(saved("aws:lambda/alias:Alias").functionVersion).toBe(first.version);
    expect(alias()).toMatchObject({ FunctionVersion: second.version });

    // A drift run is a preview-only refresh (Pulumi Cloud's drift detection). The traffic lines are
    // ignoreChanges, and the engine diffs a refresh against the program with them: no drift. It
    // confirms nothing: the suite's PULUMI_SKIP_CONFIRMATIONS would make it --yes, which the CLI
    // refuses beside --preview-only.
    const driftRun = (env: Record<string, string> = {}) =>
      c.pulumi(["refresh", "--preview-only", "--expect-no-changes", "--diff"], {
        PULUMI_SKIP_CONFIRMATIONS: "false",
        ...env,
      });
    const clean = ok(await driftRun(), "a drift run after a release");
    expect(clean.stdout).not.toMatch(/\(update\)/);
    // Control: the engine's outputs-only refresh diff (PULUMI_ENABLE_LEGACY_REFRESH_DIFF) reports the
    // same refresh as drift: the traffic did move outside the resources.
    const legacy = await driftRun({ PULUMI_ENABLE_LEGACY_REFRESH_DIFF: "true" });
    expect(legacy.code, text(legacy)).not.toBe(0);
    expect(legacy.stdout).toMatch(/~ traffics +: \[/);
    expect(legacy.stdout).toContain(`~ functionVersion: "${first.version}" => "${second.version}"`);

    // A change by hand is drift, and the run names it.
    const declared = c.cloud.services.get(SERVICE)!.ingress;
    c.cloud.run.setIngress(SERVICE, "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER");
    let byHand: CliResult;
    try {
      byHand = await driftRun();
    } finally {
      c.cloud.run.setIngress(SERVICE, declared);
    }
    expect(byHand.code, text(byHand)).not.toBe(0);
    expect(byHand.stdout).toMatch(
      /~ gcp:cloudrunv2\/service:Service: \(update\)\n\s+\[id=projects\/acme-e2e\/locations\/us-central1\/services\/api\]/,
    );
    expect(byHand.stdout).toMatch(
      /~ ingress +: "INGRESS_TRAFFIC_ALL" => "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"/,
    );
    // The service alone: the alias, whose version also differs from state, is not drift.
    expect(byHand.stdout).toMatch(/Resources:\n +~ 1 to update\n/);
    fs.writeFileSync(
      path.join(REPO, "bench/e2e-drift.txt"),
      [
        "# after a release: pulumi refresh --preview-only --expect-no-changes --diff",
        clean.stdout,
        "# the same, with PULUMI_ENABLE_LEGACY_REFRESH_DIFF=true (outputs-only refresh diff)",
        legacy.stdout,
        "# after `gcloud run services update api --ingress internal-and-cloud-load-balancing`",
        byHand.stdout,
      ].join("\n"),
    );
    ok(await driftRun(), "a drift run once the hand change is undone");
  });

  it("a failing gate leaves 100% of traffic where it was, for each cloud, and a fixed re-run releases", async () => {
    c.cloud.failNew = true;
    await config("logLevel", "warn");
    c.cloud.history.length = 0;
    const checks = c.cloud.healthChecks.length;
    const r = await up();
    expect(r.code).not.toBe(0);
    // The broken build's own 500, twice in a row, is definite: two requests, not ten over 135 s.
    expect(text(r)).toMatch(
      new RegExp(
        `Cloud Run service api: release of api-${SHA.slice(0, 7)}-[0-9a-f]{5} failed its health gate before any traffic \\(last answer: https://next---api-123456789012\\.us-central1\\.run\\.app/health answered 500 "unhealthy" \\(2 in a row: the service's own error, not asked again\\)\\); traffic: 100% on ${second.revision}, unchanged`,
      ),
    );
    // The revision's two 500s and the version's function error, each final.
    expect(c.cloud.healthChecks.length - checks).toBe(3);
    timings.definiteFailureUpMs = r.ms;
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
    // The health gate alone judges these steps (the traffic analysis has scenarios of its own below).
    await config("rollout", JSON.stringify({ steps: [10, 50], waitSeconds: 1, analysis: false }));
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
    // Time to revert: from the write that gave the broken revision 10% to the one that took it back.
    const events = runEvents();
    const at10 = events.findIndex((ev) => ev.traffic.some((t) => t.revision !== served && t.percent === 10));
    const back = events.findIndex(
      (ev, i) => i > at10 && ev.traffic.every((t) => t.revision === served || t.percent === 0),
    );
    expect(at10).toBeGreaterThanOrEqual(0);
    expect(back).toBeGreaterThan(at10);
    // The step's 1 s wait, then two gate requests 3 s apart: well under today's 135 s of retries.
    timings.cloudRunRevertMs = events[back]!.at - events[at10]!.at;
    expect(timings.cloudRunRevertMs).toBeLessThan(15_000);
    expect(runEvents().some((ev) => ev.traffic.some((t) => t.revision !== served && t.percent === 10))).toBe(
      true,
    );
    expect(live()).toEqual([expect.objectContaining({ revision: served, percent: 100 })]);
    expect(alias()).toEqual({
      FunctionVersion: servedVersion,
      RoutingConfig: { AdditionalVersionWeights: {} },
      RevisionId: expect.any(String),
    });
    // The same for Lambda: from the alias's 10% on the broken version to all on the one that served.
    const lambdaSteps = lambdaEvents();
    const l10 = lambdaSteps.findIndex((ev) => Object.values(ev.weights).some((w) => w === 0.1));
    const lBack = lambdaSteps.findIndex(
      (ev, i) => i > l10 && ev.version === servedVersion && Object.keys(ev.weights).length === 0,
    );
    expect(l10).toBeGreaterThanOrEqual(0);
    expect(lBack).toBeGreaterThan(l10);
    timings.lambdaRevertMs = lambdaSteps[lBack]!.at - lambdaSteps[l10]!.at;
    expect(timings.lambdaRevertMs).toBeLessThan(15_000);
    c.cloud.unhealthy.clear();
    ok(await up(), "re-run after the fix");
  });

  it("a revision that is not ready yet (503) is asked again, as often and as long as healthGateRetry says", async () => {
    const served = live()[0]!.revision!;
    await config("healthGateRetry", JSON.stringify({ attempts: 3, intervalSeconds: 1, timeoutSeconds: 5 }));
    await config("logLevel", "trace");
    c.cloud.failNew = true;
    c.cloud.unhealthyStatus = 503;
    const checks = c.cloud.healthChecks.length;
    const r = await up();
    c.cloud.failNew = false;
    c.cloud.unhealthyStatus = 500;
    expect(r.code).not.toBe(0);
    expect(text(r)).toMatch(
      /Cloud Run service api: release of \S+ failed its health gate before any traffic \(last answer: \S+ answered 503 "unhealthy"\)/,
    );
    // Three answers from the revision (1 s, then 2 s apart), and the version's one function error.
    expect(c.cloud.healthChecks.length - checks).toBe(4);
    expect(live()).toEqual([expect.objectContaining({ revision: served, percent: 100 })]);
    c.cloud.unhealthy.clear();
    ok(await c.pulumi(["config", "rm", "e2e:healthGateRetry"]), "config rm healthGateRetry");
    ok(await up(), "re-run after the fix");
  });

  it("a 503 and a 429 between two steps are retried, and the release completes on both clouds", async () => {
    await config("rollout", JSON.stringify({ steps: [10, 50], waitSeconds: 1, analysis: false }));
    await config("logLevel", "fatal");
    // The release step's PATCHes: the tag, 10%, 50%, 100%. The second and third answer 503 once each.
    c.cloud.faults.set({
      errors: [
        { op: "run.services.patch", nth: [2], status: 503 },
        { op: "lambda.UpdateAlias", nth: [2], status: 429 },
      ],
    });
    ok(await up(), "up with a throttled API");
    c.cloud.faults.reset();
    // Each step's log is its Command's stderr output, in the state.
    expect(await stepLog("api-release")).toMatch(
      /Cloud Run service api: move traffic: .*503.*; retrying in \d+ ms/,
    );
    expect(await stepLog("worker-release")).toMatch(
      /Lambda function worker: move traffic: TooManyRequestsException: The request throughput limit was exceeded\.; retrying in \d+ ms/,
    );
    const after = await outputs();
    expect(live()).toEqual([expect.objectContaining({ revision: after.revision, percent: 100 })]);
    expect(alias()).toMatchObject({ FunctionVersion: after.version });
  });

  it("a canary healthy on /health but failing one request in five is returned at its first step, on both clouds", async () => {
    const served = live()[0]!.revision!;
    const servedVersion = alias().FunctionVersion;
    await config("rollout", JSON.stringify({ steps: [20, 50], waitSeconds: 5, analysis: ANALYSIS }));
    // A value no earlier scenario set: Cloud Run re-uses a known template's revision, which would not be the new build.
    await config("logLevel", "canary-5xx");
    // The new build passes every /health, and fails every fifth request of its users.
    c.cloud.newApps = { errorEvery: 5 };
    c.cloud.history.length = 0;
    const traffic = users();
    const r = await up();
    const sent = await traffic.stop();
    c.cloud.newApps = undefined;
    expect(r.code).not.toBe(0);
    const run = new RegExp(
      `Cloud Run service api: release of (\\S+) failed its traffic analysis at step 1 \\(20%\\) \\(error rate ([\\d.]+)% \\((\\d+) 5xx of (\\d+) requests\\) > maxErrorRate 1%; Cloud Monitoring, [\\d:]+-[\\d:]+ UTC\\); traffic: 100% on ${served}, returned`,
    ).exec(text(r));
    expect(run, text(r)).not.toBeNull();
    const fn = new RegExp(
      `Lambda function worker: release of (\\d+) failed its traffic analysis at step 1 \\(20%\\) \\(error rate ([\\d.]+)% \\((\\d+) function errors of (\\d+) requests\\) > maxErrorRate 1%; CloudWatch, [\\d:]+-[\\d:]+ UTC\\); traffic: 100% on ${servedVersion}, returned`,
    ).exec(text(r));
    expect(fn, text(r)).not.toBeNull();
    // The numbers are the users' own: the failures they saw, one in five of the canary's share.
    expect(sent.cloudRunFailed).toBeGreaterThan(0);
    expect(sent.lambdaFailed).toBeGreaterThan(0);
    // One in five of the canary's requests, in a window that may start or end between two failures.
    for (const m of [run!, fn!]) {
      expect(Number(m[2])).toBeGreaterThan(10);
      expect(Number(m[2])).toBeLessThan(30);
    }
    // Never past the first step; all back on what served.
    expect(runEvents().some((ev) => ev.traffic.some((t) => t.revision === run![1] && t.percent > 20))).toBe(
      false,
    );
    expect(live()).toEqual([expect.objectContaining({ revision: served, percent: 100 })]);
    expect(alias()).toMatchObject({
      FunctionVersion: servedVersion,
      RoutingConfig: { AdditionalVersionWeights: {} },
    });
  });

  it("a healthy canary under users' traffic is judged at each step and goes to 100%, on both clouds", async () => {
    await config("logLevel", "canary-healthy");
    const traffic = users();
    const r = await up();
    await traffic.stop();
    ok(r, "up with a healthy canary");
    timings.analysedRolloutUpMs = r.ms;
    const after = await outputs();
    for (const [step, words] of [
      ["api-release", "5xx"],
      ["worker-release", "function errors"],
    ] as const) {
      const log = await stepLog(step);
      expect(log).toMatch(
        new RegExp(
          `traffic analysis at step 1 \\(20%\\): pass \\(error rate 0% \\(0 ${words} of \\d+ requests\\)`,
        ),
      );
      expect(log).toMatch(
        new RegExp(
          `traffic analysis at step 2 \\(50%\\): pass \\(error rate 0% \\(0 ${words} of \\d+ requests\\)`,
        ),
      );
    }
    expect(live()).toEqual([expect.objectContaining({ revision: after.revision, percent: 100 })]);
    expect(alias()).toMatchObject({ FunctionVersion: after.version });
  });

  it("too few requests to judge holds the step, then returns traffic; tooFewRequests: pass releases it", async () => {
    const served = live()[0]!.revision!;
    const servedVersion = alias().FunctionVersion;
    await config("logLevel", "canary-quiet");
    // No users at all: a quiet service.
    const r = await up();
    expect(r.code).not.toBe(0);
    expect(text(r)).toMatch(
      new RegExp(
        `Cloud Run service api: release of \\S+ failed its traffic analysis at step 1 \\(20%\\) \\(too few requests to judge: \\d requests? < minRequests 10; Cloud Monitoring, [\\d:-]+ UTC; held 4 s \\(tooFewRequests: hold, maxHoldSeconds\\)\\); traffic: 100% on ${served}, returned`,
      ),
    );
    expect(text(r)).toMatch(
      new RegExp(
        `Lambda function worker: release of \\d+ failed its traffic analysis at step 1 \\(20%\\) \\(too few requests to judge: 0 requests < minRequests 10; CloudWatch, [\\d:-]+ UTC; held 4 s \\(tooFewRequests: hold, maxHoldSeconds\\)\\); traffic: 100% on ${servedVersion}, returned`,
      ),
    );
    await config(
      "rollout",
      JSON.stringify({ steps: [20, 50], waitSeconds: 5, analysis: { ...ANALYSIS, tooFewRequests: "pass" } }),
    );
    ok(await up(), "a re-run that passes an unjudged step");
    expect(await stepLog("api-release")).toContain(
      "traffic analysis at step 1 (20%): passed unjudged, as tooFewRequests: pass says",
    );
    expect(await stepLog("worker-release")).toContain(
      "traffic analysis at step 2 (50%): passed unjudged, as tooFewRequests: pass says",
    );
  });

  it("a slow canary breaches its latency threshold and is returned, on both clouds", async () => {
    const served = live()[0]!.revision!;
    const servedVersion = alias().FunctionVersion;
    await config(
      "rollout",
      JSON.stringify({
        steps: [20, 50],
        waitSeconds: 5,
        analysis: { ...ANALYSIS, minRequests: 5, maxP99LatencyMs: 800 },
      }),
    );
    await config("logLevel", "canary-slow");
    c.cloud.newApps = { latencyMs: 1200 };
    // Users who each wait 1.2 s for a slow answer: enough of them to reach minRequests in the wait.
    const traffic = users(4);
    const r = await up();
    await traffic.stop();
    c.cloud.newApps = undefined;
    expect(r.code).not.toBe(0);
    expect(text(r)).toMatch(
      new RegExp(
        `Cloud Run service api: release of \\S+ failed its traffic analysis at step 1 \\(20%\\) \\(p99 latency 1[2-9]\\d\\d ms > maxP99LatencyMs 800 ms \\(\\d+ requests\\); Cloud Monitoring, [\\d:-]+ UTC\\); traffic: 100% on ${served}, returned`,
      ),
    );
    expect(text(r)).toMatch(
      new RegExp(
        `Lambda function worker: release of \\d+ failed its traffic analysis at step 1 \\(20%\\) \\(p99 latency 1[2-9]\\d\\d ms > maxP99LatencyMs 800 ms \\(\\d+ requests\\); CloudWatch, [\\d:-]+ UTC\\); traffic: 100% on ${servedVersion}, returned`,
      ),
    );
    expect(live()).toEqual([expect.objectContaining({ revision: served, percent: 100 })]);
    expect(alias()).toMatchObject({ FunctionVersion: servedVersion });
  });

  it("metrics the step may not read return traffic at its first step; once granted, a throttled read is asked again and the release completes", async () => {
    const served = live()[0]!.revision!;
    const servedVersion = alias().FunctionVersion;
    await config("rollout", JSON.stringify({ steps: [20, 50], waitSeconds: 5, analysis: ANALYSIS }));
    await config("logLevel", "metrics-denied");
    // The deployer's roles/monitoring.viewer and cloudwatch:GetMetricData are gone (docs/iam.md).
    c.cloud.metrics.denied.add(IDENTITY.gcpDeployer);
    c.cloud.metrics.denied.add(IDENTITY.awsAccountId);
    let r: CliResult;
    const traffic = users();
    try {
      r = await up();
    } finally {
      await traffic.stop();
      c.cloud.metrics.denied.clear();
    }
    expect(r.code).not.toBe(0);
    // An unjudged step never goes on: each cloud's release fails at step 1, naming what was refused.
    expect(text(r)).toMatch(
      new RegExp(
        `Cloud Run service api: release of \\S+ failed at step 1 \\(20%\\): [^;]*Permission 'monitoring\\.timeSeries\\.list' denied[^;]*; traffic: 100% on ${served}, returned`,
      ),
    );
    expect(text(r)).toMatch(
      new RegExp(
        `Lambda function worker: release of \\d+ failed at step 1 \\(20%\\): [^;]*cloudwatch:GetMetricData[^;]*; traffic: 100% on ${servedVersion}, returned`,
      ),
    );
    expect(live()).toEqual([expect.objectContaining({ revision: served, percent: 100 })]);
    expect(alias()).toMatchObject({ FunctionVersion: servedVersion });

    // Granted again, the re-run at this commit releases; Cloud Monitoring throttles its first reads.
    c.cloud.metrics.failNext = { api: "google", status: 429, times: 2 };
    const again = users();
    const rerun = await up();
    await again.stop();
    ok(rerun, "the re-run once the metrics can be read");
    expect(await stepLog("api-release")).toMatch(/read metrics: .*429.*; retrying in \d+ ms/);
    const after = await outputs();
    expect(live()).toEqual([expect.objectContaining({ revision: after.revision, percent: 100 })]);
    expect(alias()).toMatchObject({ FunctionVersion: after.version });
  });

  it("an operation that ends in an error leaves traffic where it was, with one message", async () => {
    // From here on the health gate alone judges each step, as before the traffic analysis scenarios.
    await config("rollout", JSON.stringify({ steps: [10, 50], waitSeconds: 1, analysis: false }));
    const served = live()[0]!.revision!;
    await config("logLevel", "info");
    c.cloud.faults.set({ operationError: { code: 13, message: "Internal error while updating traffic" } });
    const r = await up();
    c.cloud.faults.reset();
    expect(r.code).not.toBe(0);
    expect(text(r)).toMatch(
      new RegExp(
        `Cloud Run service api: release of \\S+ failed before any traffic: CloudCallError: Cloud Run refused the traffic change of api: Internal error while updating traffic; traffic: 100% on ${served}, unchanged`,
      ),
    );
    expect(live()).toEqual([expect.objectContaining({ revision: served, percent: 100 })]);
    expect(c.cloud.services.get(SERVICE)!.traffic.some((t) => t.tag === "next")).toBe(false);
    ok(await up(), "re-run once the API answers again");
  });

  it("a re-run after its revision failed to start releases a fresh revision of the same commit", async () => {
    const served = live()[0]!.revision!;
    await config("logLevel", "notice");
    c.cloud.faults.set({ failStarts: 1 });
    const r = await up();
    c.cloud.faults.reset();
    expect(r.code).not.toBe(0);
    // The provider's own error: the update's operation fails on the revision that did not start.
    const failed = new RegExp(
      `Error waiting for Updating Service: Error code 9, message: Revision '(api-${SHA.slice(0, 7)}-[0-9a-f]{5})' is not ready and cannot serve traffic\\.`,
    ).exec(text(r))?.[1];
    expect(failed, text(r)).toBeDefined();
    expect(live()).toEqual([expect.objectContaining({ revision: served, percent: 100 })]);

    // The same commit and configuration again: its name is taken by a revision that cannot serve.
    const again = ok(await up(), "re-run at the same commit");
    expect(text(again)).toContain(`revision ${failed} did not become ready`);
    expect((await outputs()).revision).toBe(`${failed}-2`);
    expect(live()).toEqual([expect.objectContaining({ revision: `${failed}-2`, percent: 100 })]);
    ok(
      await c.pulumi(["preview", "--expect-no-changes"]),
      "preview --expect-no-changes after the fresh release",
    );
  });

  it("a tag the team made by hand survives the next release", async () => {
    const svc = c.cloud.services.get(SERVICE)!;
    const served = live()[0]!.revision!;
    // As `gcloud run services update-traffic api --set-tags stable=<serving revision>` leaves it.
    c.cloud.run.setTraffic(SERVICE, [
      ...svc.traffic,
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: served, percent: 0, tag: "stable" },
    ]);
    ok(await c.pulumi(["refresh", "--yes", "--skip-preview"]), "refresh after the hand-made tag");
    await config("logLevel", "warn");
    ok(await up(), "a release beside the hand-made tag");
    expect(c.cloud.services.get(SERVICE)!.traffic).toContainEqual(
      expect.objectContaining({ revision: served, tag: "stable" }),
    );
  });

  it("kill -9 of the CLI alone: the orphaned step outlives its provider, and the next update owns traffic", async () => {
    await config("rollout", JSON.stringify({ steps: [10, 50], waitSeconds: 8, analysis: false }));
    await config("logLevel", "debug");
    c.cloud.history.length = 0;
    const child = c.spawnPulumi(["up", "--yes", "--skip-preview"], undefined, { pidNamespace: false });
    let log = "";
    child.stdout?.on("data", (d) => (log += d));
    child.stderr?.on("data", (d) => (log += d));
    const deadline = Date.now() + 5 * 60_000;
    while (!runEvents().some((ev) => ev.traffic.some((t) => t.percent === 10))) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`no split was reached:\n${log.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(child.pid!, "SIGKILL");
    await new Promise((r) => child.once("close", r));
    const killedAt = runEvents().length - 1;
    // The provider notices the engine is gone and kills `sh` alone (tests/e2e/standins/command.ts);
    // then it is killed too, as its fallback write to the dead CLI's stderr would (SIGPIPE).
    await until(
      () => processes(/sh -c node_modules\/\.bin\/tsx scripts\/release\.ts cloudrun/).length === 0,
      10_000,
      "sh killed",
    );
    for (const pid of processes(/standins\/command\.ts/)) process.kill(pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    const orphans = processes(/scripts\/release\.ts cloudrun/);
    expect(orphans.length, "the release step outlives its provider").toBeGreaterThan(0);
    const split = live();
    expect(split.length).toBe(2);

    ok(await c.pulumi(["cancel", "--yes"]), "pulumi cancel");
    const r = ok(await up(), "up after the kill");
    timings.resumeAfterKillMs = r.ms;
    const after = await outputs();
    const settled = c.cloud.history.length;
    // The orphan wakes from its 8 s wait, finds its update gone, and stops without writing.
    await until(() => processes(/scripts\/release\.ts/).length === 0, 60_000, "the orphaned steps to end");
    expect(c.cloud.history.slice(settled)).toEqual([]);
    // From the kill on, the new revision's share never went down: nobody moved traffic back.
    const shares = runEvents()
      .slice(killedAt)
      .map((ev) => share(ev, after.revision));
    expect(shares).toEqual([...shares].sort((x, y) => x - y));
    expect(live()).toEqual([expect.objectContaining({ revision: after.revision, percent: 100 })]);
    expect(alias()).toMatchObject({ FunctionVersion: after.version });
    // The resumed step converged a release left unfinished: the update after it runs the step once
    // more (a gated release that moves nothing), then the stack is settled.
    ok(await up(), "the update after the convergence");
    ok(await c.pulumi(["preview", "--expect-no-changes"]), "preview --expect-no-changes after converging");
  });

  it("an interrupted release, then the previous configuration again at its commit: traffic converges on it", async () => {
    const served = live()[0]!.revision!;
    await config("rollout", JSON.stringify({ steps: [10, 50], waitSeconds: 30, analysis: false }));
    await config("logLevel", "trace");
    c.cloud.history.length = 0;
    const child = c.spawnPulumi(["up", "--yes", "--skip-preview"]);
    const deadline = Date.now() + 5 * 60_000;
    while (!runEvents().some((ev) => ev.traffic.some((t) => t.percent === 10))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error("no split was reached");
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(-child.pid!, "SIGKILL");
    await new Promise((r) => child.once("close", r));
    expect(c.cloud.services.get(SERVICE)!.traffic).toContainEqual(
      expect.objectContaining({ tag: "next", percent: 10 }),
    );

    // Back to what served: the same revision name, whose release step is still in the state.
    await config("logLevel", "debug");
    ok(await c.pulumi(["cancel", "--yes"]), "pulumi cancel");
    const r = ok(await up(), "up with the previous configuration");
    expect(text(r)).toMatch(/command:local:Command api-release replac/);
    expect(live()).toEqual([expect.objectContaining({ revision: served, percent: 100 })]);
    expect(c.cloud.services.get(SERVICE)!.traffic.some((t) => t.tag === "next")).toBe(false);
    // The update after a convergence runs the step once more (its trigger is back to the revision
    // alone), a gated no-op; then the stack is settled.
    ok(await up(), "the update after the convergence");
    expect(live()).toEqual([expect.objectContaining({ revision: served, percent: 100 })]);
    ok(await c.pulumi(["preview", "--expect-no-changes"]), "preview --expect-no-changes once settled");
  });
});

/** PIDs of this machine's processes whose command line matches. */
function processes(pattern: RegExp): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ");
      if (pattern.test(cmdline)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function until(done: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
