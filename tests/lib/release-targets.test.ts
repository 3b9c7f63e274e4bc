/**
 * The release against the clouds' APIs over real HTTP on loopback: google-auth-library's client for
 * the Cloud Run Admin API v2 and the AWS SDK's Lambda client, both pointed at tools/fake-cloud.ts,
 * which answers as the documented APIs do and records every traffic change.
 */
import { LambdaClient } from "@aws-sdk/client-lambda";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { release } from "../../lib/release";
import { cloudRunTarget, lambdaTarget, type HttpClient } from "../../lib/release-targets";
import { FakeCloud } from "../../tools/fake-cloud";

let cloud: FakeCloud;
beforeAll(async () => {
  cloud = await new FakeCloud().start();
});
afterAll(() => cloud.stop());

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
      { rollout, sleep: async () => {} },
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
      /^Cloud Run service api: release of api-c failed its health gate before any traffic \(last answer: http:\/\/127\.0\.0\.1:\d+\/run\/api\/next\/health answered 503 "unhealthy"\); traffic: 100% on api-b, unchanged\./,
    );
  });

  it("a gradual release that fails at a step returns traffic to the revision that served before", async () => {
    cloud.addRevision(SERVICE, "api-d");
    // Healthy for the first gate, then broken: the 10% step's gate fails.
    let asked = 0;
    const original = cloud.healthChecks.push.bind(cloud.healthChecks);
    cloud.healthChecks.push = (...x: string[]) => {
      if (x[0] === "api-d" && ++asked === 2) cloud.unhealthy.add("api/api-d");
      return original(...x);
    };
    const r = await run("api-d", { steps: [10, 50], waitSeconds: 0 });
    cloud.healthChecks.push = original;
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
      { rollout, sleep: async () => {} },
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
