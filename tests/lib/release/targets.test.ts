/**
 * The release against the clouds' APIs over real HTTP on loopback: google-auth-library's client for
 * the Cloud Run Admin API v2 and the AWS SDK's Lambda client, both pointed at tools/fake-cloud/,
 * which answers as the documented APIs do and records every traffic change.
 */
import { LambdaClient } from "@aws-sdk/client-lambda";
import { OAuth2Client } from "google-auth-library";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { release } from "../../../lib/release";
import { cloudRunTarget, type HttpClient } from "../../../lib/release/cloud-run";
import { lambdaTarget } from "../../../lib/release/lambda";
import { virtualClock } from "../../../lib/release/retry";
import { FakeCloud } from "../../../tools/fake-cloud";

let cloud: FakeCloud;
beforeAll(async () => {
  cloud = await new FakeCloud().start();
});
afterAll(() => cloud.stop());
afterEach(() => cloud.reset());

const SERVICE = "projects/acme/locations/us-central1/services/api";
const FN = "arn:aws:lambda:us-east-1:111111111111:function:worker";

function http(): HttpClient {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: "test-token", expiry_date: Date.now() + 3_600_000 });
  return client as unknown as HttpClient;
}
const lambda = () =>
  new LambdaClient({
    region: "us-east-1",
    endpoint: cloud.url,
    credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test" },
    // As scripts/release.ts builds it: the release's retry policy is the only one.
    maxAttempts: 1,
  });
const fast = { attempts: 2, delayMs: 1 };

describe("Cloud Run", () => {
  const run = (revision: string, rollout?: { steps: number[]; waitSeconds: number }) =>
    release(
      cloudRunTarget({
        http: http(),
        service: SERVICE,
        revision,
        healthPath: "/health",
        endpoint: cloud.url,
        health: fast,
        pollMs: 1,
      }),
      { rollout, clock: virtualClock() },
    );

  it("tags the new revision at 0%, gates its own URL, then moves all traffic and drops the tag", async () => {
    cloud.addService(SERVICE, "api-a");
    cloud.addRevision(SERVICE, "api-b");
    cloud.history.length = 0;
    const r = await run("api-b");
    expect(r.released).toBe(true);
    expect(cloud.healthChecks.at(-1)).toBe("api-b");
    expect(cloud.history[0]).toMatchObject({
      traffic: [
        { revision: "api-a", percent: 100 },
        { revision: "api-b", percent: 0, tag: "next" },
      ],
    });
    expect(cloud.services.get(SERVICE)!.traffic).toEqual([
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "api-b", percent: 100 },
    ]);
  });

  it("a failing revision never gets a share: traffic stays 100% on the one that served", async () => {
    cloud.addRevision(SERVICE, "api-c");
    cloud.unhealthy.add("api/api-c");
    cloud.history.length = 0;
    const r = await run("api-c", { steps: [10, 50], waitSeconds: 0 });
    expect(r.released).toBe(false);
    for (const e of cloud.history) {
      expect(e.kind === "cloudrun" && (e.traffic.find((t) => t.revision === "api-c")?.percent ?? 0)).toBe(0);
    }
    // The failed revision is not left reachable at its own URL.
    expect(cloud.services.get(SERVICE)!.traffic.some((t) => t.tag)).toBe(false);
    expect(r.released === false && r.message).toMatch(
      /^Cloud Run service api: release of api-c failed its health gate before any traffic \(last answer: http:\/\/127\.0\.0\.1:\d+\/run\/api\/next\/health answered 500 "unhealthy" \(2 in a row: the service's own error, not asked again\)\); traffic: 100% on api-b, unchanged\./,
    );
  });

  it("a gradual release that fails at a step returns traffic to the revision that served before", async () => {
    // Healthy for the first gate, then broken: the 10% step's gate fails.
    cloud.failNew = true;
    cloud.failNewAfter = 1;
    cloud.addRevision(SERVICE, "api-d");
    cloud.failNew = false;
    const r = await run("api-d", { steps: [10, 50], waitSeconds: 0 });
    expect(r.released === false && r.message).toContain("at step 1 (10%)");
    expect(
      cloud.history.some(
        (e) => e.kind === "cloudrun" && e.traffic.some((t) => t.revision === "api-d" && t.percent === 10),
      ),
    ).toBe(true);
    expect(cloud.services.get(SERVICE)!.traffic.filter((t) => t.percent > 0)).toEqual([
      expect.objectContaining({ revision: "api-b", percent: 100 }),
    ]);
  });
});

describe("Lambda", () => {
  const run = (version: string, rollout?: { steps: number[]; waitSeconds: number }) =>
    release(
      lambdaTarget({
        client: lambda(),
        functionArn: FN,
        version,
        alias: "live",
        healthPath: "/health",
        attempts: 1,
        delayMs: 1,
      }),
      { rollout, clock: virtualClock() },
    );

  it("first release: the alias does not exist yet; the version is invoked alone and nothing is routed", async () => {
    cloud.publish("worker", "1");
    const r = await run("1");
    expect(r).toMatchObject({ released: true, gateRuns: 1 });
    expect(cloud.healthChecks.at(-1)).toBe("1");
    expect(cloud.history.filter((e) => e.kind === "lambda")).toEqual([]);
  });

  it("invokes the new version by its qualifier, then moves the alias to it in steps by weight", async () => {
    cloud.setAlias("worker", "live", "1");
    cloud.publish("worker", "2");
    const r = await run("2", { steps: [10, 50], waitSeconds: 0 });
    expect(r.released).toBe(true);
    expect(
      cloud.history
        .filter((e) => e.kind === "lambda")
        .map((e) => e.kind === "lambda" && [e.version, e.weights]),
    ).toEqual([
      ["1", { "2": 0.1 }],
      ["1", { "2": 0.5 }],
      ["2", {}],
    ]);
  });

  it("a function error leaves the alias on the previous version, with the function's answer", async () => {
    cloud.publish("worker", "3");
    cloud.unhealthy.add("worker:3");
    const before = cloud.history.length;
    const r = await run("3");
    expect(cloud.history.length).toBe(before);
    expect(cloud.functions.get("worker")!.aliases.live).toMatchObject({ FunctionVersion: "2" });
    expect(r.released === false && r.message).toBe(
      'Lambda function worker: release of 3 failed its health gate before any traffic (last answer: version 3 returned FunctionError Unhandled: {"errorType":"Error","errorMessage":"health check failed"}); ' +
        "traffic: 100% on 2, unchanged. Fix the service and run the update again: a re-run at this commit retries the release",
    );
  });
});

describe("Cloud Run under faults (the fake answers as the API does)", () => {
  const SVC = "projects/acme/locations/us-central1/services/faulty";
  const quick = { initialMs: 1, maxDelayMs: 4, deadlineMs: 200, jitter: 0 };
  const target = (revision: string) =>
    cloudRunTarget({
      http: http(),
      service: SVC,
      revision,
      healthPath: "/health",
      endpoint: cloud.url,
      health: fast,
      pollMs: 1,
      operationDeadlineMs: 200,
    });
  const live = () => cloud.services.get(SVC)!.traffic.filter((t) => t.percent > 0);
  const rollout = { steps: [10, 50], waitSeconds: 0 };

  it("waits for each operation through polls that are not done, then releases", async () => {
    cloud.run.addService(SVC, "f-a");
    cloud.run.addRevision(SVC, "f-b");
    cloud.faults.set({ operationPolls: 3 });
    const r = await release(target("f-b"), { rollout, clock: virtualClock(), retry: quick });
    expect(r.kind).toBe("released");
    expect(live()).toEqual([expect.objectContaining({ revision: "f-b", percent: 100 })]);
  });

  it("a 503 on a PATCH between two steps is retried; a 429 on a read too", async () => {
    cloud.run.addRevision(SVC, "f-c");
    cloud.faults.set({
      errors: [
        { op: "run.services.patch", nth: [3], status: 503 },
        { op: "run.services.get", nth: [4], status: 429 },
      ],
    });
    const logs: string[] = [];
    const r = await release(target("f-c"), {
      rollout,
      clock: virtualClock(),
      retry: quick,
      log: (l) => logs.push(l),
    });
    expect(r.kind).toBe("released");
    expect(logs.filter((l) => l.includes("retrying"))).toHaveLength(2);
  });

  it("an operation that ends in an error returns traffic and drops the tag, with one message", async () => {
    cloud.run.addRevision(SVC, "f-d");
    cloud.faults.set({
      operationError: { code: 13, message: "Internal error while updating traffic" },
    });
    const r = await release(target("f-d"), { rollout, clock: virtualClock(), retry: quick });
    expect(r.released === false && r.message).toBe(
      "Cloud Run service faulty: release of f-d failed before any traffic: CloudCallError: Cloud Run refused the traffic change of faulty: " +
        "Internal error while updating traffic; traffic: 100% on f-c, unchanged. Run the update again: a re-run at this commit retries the release",
    );
    cloud.faults.reset();
    expect(live()).toEqual([expect.objectContaining({ revision: "f-c", percent: 100 })]);
    expect(cloud.services.get(SVC)!.traffic.some((t) => t.tag === "next")).toBe(false);
  });

  it("a PATCH that took effect but lost its answer is not sent again: the step reads and goes on", async () => {
    cloud.run.addRevision(SVC, "f-d2");
    // PATCHes: the tag, then 10% (its answer lost), then 50%, 100%.
    cloud.faults.set({ lostAnswers: [{ op: "run.services.patch", nth: [2] }] });
    const before = cloud.history.length;
    const r = await release(target("f-d2"), { rollout, clock: virtualClock(), retry: quick });
    expect(r.kind).toBe("released");
    const tens = cloud.history
      .slice(before)
      .filter(
        (e) => e.kind === "cloudrun" && e.traffic.some((t) => t.revision === "f-d2" && t.percent === 10),
      );
    expect(tens).toHaveLength(1);
  });

  it("an operation that ends in an error at a later step returns all traffic", async () => {
    cloud.run.addRevision(SVC, "f-d3");
    // Operations: the tag, 10%, then 50% ends in an error.
    cloud.faults.set({ operationError: { code: 13, message: "Internal error", nth: [3] } });
    const r = await release(target("f-d3"), { rollout, clock: virtualClock(), retry: quick });
    expect(r.released === false && r.message).toContain(
      "failed at step 2 (50%): CloudCallError: Cloud Run refused the traffic change of faulty: Internal error; traffic: 100% on f-d2, returned",
    );
    expect(live()).toEqual([expect.objectContaining({ revision: "f-d2", percent: 100 })]);
    expect(cloud.services.get(SVC)!.traffic.some((t) => t.tag === "next")).toBe(false);
  });

  it("a revision that never becomes ready fails its release; traffic stays on what served", async () => {
    cloud.run.addRevision(SVC, "f-e");
    cloud.faults.set({ neverReady: ["faulty/f-e"] });
    const r = await release(target("f-e"), { rollout, clock: virtualClock(), retry: quick });
    expect(r.released === false && r.message).toContain(
      "failed before any traffic: CloudCallError: Cloud Run refused the traffic change of faulty: Revision 'f-e' is not ready and cannot serve traffic.; traffic: 100% on f-d2",
    );
    expect(live()).toEqual([expect.objectContaining({ revision: "f-d2", percent: 100 })]);
  });

  it("a PATCH with a stale etag is refused 409 ABORTED; with the current one it is accepted", async () => {
    const t = target("f-c");
    const basis = await t.read();
    const svc = cloud.services.get(SVC)!;
    cloud.run.setTraffic(SVC, svc.traffic); // someone else writes: a new etag
    await expect(t.route([{ target: "f-c", percent: 100 }], basis, { tagged: true })).rejects.toMatchObject({
      name: "TrafficConflict",
    });
    const fresh = await t.read();
    expect(fresh.version).not.toBe(basis.version);
    const after = await t.route([{ target: "f-c", percent: 100 }], fresh, { tagged: true });
    expect(after.routing).toContain('"next"');
    await t.route([{ target: "f-c", percent: 100 }], after, { tagged: false });
  });

  it("a tag the program does not own survives every release", async () => {
    const svc = cloud.services.get(SVC)!;
    cloud.run.addRevision(SVC, "f-f");
    cloud.run.setTraffic(SVC, [
      ...svc.traffic,
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "f-a", percent: 0, tag: "blue" },
    ]);
    const r = await release(target("f-f"), { rollout, clock: virtualClock(), retry: quick });
    expect(r.kind).toBe("released");
    for (const e of cloud.history.filter((h) => h.kind === "cloudrun" && h.service === SVC).slice(-4)) {
      expect(e.kind === "cloudrun" && e.traffic).toContainEqual(
        expect.objectContaining({ revision: "f-a", tag: "blue" }),
      );
    }
  });

  it("an internal service's tag URL is not reachable from outside: the gate says so", async () => {
    cloud.services.get(SVC)!.ingress = "INGRESS_TRAFFIC_INTERNAL_ONLY";
    cloud.run.addRevision(SVC, "f-g");
    const r = await release(target("f-g"), { clock: virtualClock(), retry: quick });
    cloud.services.get(SVC)!.ingress = "INGRESS_TRAFFIC_ALL";
    expect(r.released === false && r.message).toMatch(/next\/health answered 404 "not found"/);
  });
});

describe("Lambda under faults", () => {
  const quick = { initialMs: 1, maxDelayMs: 4, deadlineMs: 200, jitter: 0 };
  const FN2 = "arn:aws:lambda:us-east-1:111111111111:function:faulty";
  const target = (version: string) =>
    lambdaTarget({
      client: lambda(),
      functionArn: FN2,
      version,
      alias: "live",
      healthPath: "/health",
      attempts: 3,
      delayMs: 1,
    });
  const alias = () => cloud.functions.get("faulty")!.aliases.live!;

  it("an UpdateAlias with a stale RevisionId is refused (412); with the current one it is accepted", async () => {
    cloud.publish("faulty", "1");
    cloud.setAlias("faulty", "live", "1");
    cloud.publish("faulty", "2");
    const t = target("2");
    const basis = await t.read();
    expect(basis.version).toBe(alias().RevisionId);
    cloud.setAlias("faulty", "live", "1"); // someone else writes: a new RevisionId
    await expect(t.route([{ target: "2", percent: 100 }], basis, { tagged: false })).rejects.toMatchObject({
      name: "TrafficConflict",
    });
    const after = await t.route([{ target: "2", percent: 100 }], await t.read(), { tagged: false });
    expect(alias().FunctionVersion).toBe("2");
    expect(after.version).toBe(alias().RevisionId);
  });

  it("an UpdateAlias that took effect but lost its answer is not sent again", async () => {
    cloud.publish("faulty", "3b");
    cloud.faults.set({ lostAnswers: [{ op: "lambda.UpdateAlias", nth: [1] }] });
    const before = cloud.history.length;
    const r = await release(target("3b"), {
      rollout: { steps: [10], waitSeconds: 0 },
      clock: virtualClock(),
      retry: quick,
    });
    expect(r.kind).toBe("released");
    expect(cloud.history.slice(before).map((e) => e.kind === "lambda" && [e.version, e.weights])).toEqual([
      ["2", { "3b": 0.1 }],
      ["3b", {}],
    ]);
  });

  it("ResourceConflictException and a 429 on UpdateAlias are retried until the alias moves", async () => {
    cloud.publish("faulty", "3");
    cloud.faults.set({
      errors: [
        { op: "lambda.UpdateAlias", nth: [1, 2], status: 409 },
        { op: "lambda.GetAlias", nth: [2], status: 429 },
      ],
    });
    const r = await release(target("3"), {
      rollout: { steps: [10], waitSeconds: 0 },
      clock: virtualClock(),
      retry: quick,
    });
    expect(r.kind).toBe("released");
    expect(alias().FunctionVersion).toBe("3");
  });

  it("a cold start's timeout is asked again; the function's own error is final", async () => {
    cloud.publish("faulty", "4");
    cloud.faults.set({ coldStarts: { "faulty:4": 1 } });
    const ok = await release(target("4"), { clock: virtualClock(), retry: quick });
    expect(ok.kind).toBe("released");

    cloud.publish("faulty", "5");
    cloud.unhealthy.add("faulty:5");
    const before = cloud.healthChecks.length;
    const bad = await release(target("5"), { clock: virtualClock(), retry: quick });
    expect(bad.released === false && bad.message).toContain("version 5 returned FunctionError Unhandled");
    // One invoke: a function error is not asked again.
    expect(cloud.healthChecks.length - before).toBe(1);
    expect(alias().FunctionVersion).toBe("4");
  });

  it("a new version after an interrupted split starts from the version that served most (an alias holds two)", async () => {
    cloud.publish("faulty", "7");
    cloud.publish("faulty", "8");
    cloud.faults.reset();
    const basis = await target("7").read();
    await target("7").route(
      [
        { target: "4", percent: 90 },
        { target: "7", percent: 10 },
      ],
      basis,
      { tagged: true },
    );
    const r = await release(target("8"), {
      rollout: { steps: [10], waitSeconds: 0 },
      clock: virtualClock(),
      retry: quick,
    });
    expect(r.kind).toBe("released");
    expect(cloud.history.filter((e) => e.kind === "lambda" && e.fn === "faulty").slice(-2)).toEqual([
      expect.objectContaining({ version: "4", weights: { "8": 0.1 } }),
      expect.objectContaining({ version: "8", weights: {} }),
    ]);
  });

  it("a cold start on every attempt fails the gate with the timeout named", async () => {
    cloud.publish("faulty", "6");
    cloud.faults.set({ coldStarts: { "faulty:6": 5 } });
    const r = await release(target("6"), { clock: virtualClock(), retry: quick });
    expect(r.released === false && r.message).toContain("Task timed out after 3.00 seconds");
  });
});
