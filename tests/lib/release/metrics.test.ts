/**
 * The traffic analysis's readers against tools/fake-cloud/ over real HTTP: google-auth-library's client
 * for Cloud Monitoring and the AWS SDK's CloudWatch client. The numbers are the requests this test
 * sends through the service's URL and the alias, as users would: nothing is written to the metrics.
 */
import * as http from "node:http";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { OAuth2Client } from "google-auth-library";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type HttpClient } from "../../../lib/release/cloud-run";
import { cloudRunMetrics } from "../../../lib/release/metrics-cloud-run";
import { lambdaMetrics } from "../../../lib/release/metrics-lambda";
import { FakeCloud } from "../../../tools/fake-cloud";

const SERVICE = "projects/acme/locations/us-central1/services/api";
const HOST = "api-123456789012.us-central1.run.app";
let cloud: FakeCloud;
let token: string;
beforeAll(async () => {
  cloud = await new FakeCloud({ runAppHost: () => HOST, accounts: { AKIDTEST: "111111111111" } }).start();
  token = await cloud.googleAccessToken("deployer-refresh-token");
  cloud.metrics.publishDelayMs = 0;
  cloud.addService(SERVICE, "api-a");
  cloud.publish("worker", "1");
  cloud.setAlias("worker", "live", "1");
  // The new revision and version fail one request in five, and take 30 ms each.
  cloud.newApps = { errorEvery: 5, latencyMs: 30 };
  cloud.addRevision(SERVICE, "api-b");
  cloud.publish("worker", "2");
  cloud.newApps = undefined;
});
afterAll(() => cloud.stop());
afterEach(() => {
  cloud.reset();
  cloud.metrics.publishDelayMs = 0;
});

function google(): HttpClient {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 });
  return client as unknown as HttpClient;
}
const aws = {
  region: "us-east-1",
  endpoint: "",
  credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "x" },
  maxAttempts: 1,
};

/** A user's request to the service's own URL. */
const visit = () =>
  new Promise<number>((resolve, reject) => {
    const u = new URL(cloud.url);
    http
      .get({ host: u.hostname, port: u.port, path: "/", headers: { host: HOST } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      })
      .on("error", reject);
  });

const split = (b: number) =>
  cloud.run.setTraffic(SERVICE, [
    { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "api-a", percent: 100 - b },
    { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "api-b", percent: b },
  ]);

describe("Cloud Monitoring", () => {
  const reader = (revision: string) =>
    cloudRunMetrics({ http: google(), service: SERVICE, revision, endpoint: cloud.url });

  it("counts what each revision served, its 5xx apart, from requests users sent", async () => {
    split(20);
    const start = Date.now();
    const statuses = [];
    for (let i = 0; i < 50; i++) statuses.push(await visit());
    const w = { startMs: start, endMs: Date.now() };
    // 20% of 50 reached the canary, and one in five of those failed.
    expect(statuses.filter((s) => s === 500)).toHaveLength(2);
    const b = await reader("api-b").read(w);
    expect(b).toMatchObject({ requests: 10, errors: 2 });
    expect(b.p99LatencyMs).toBeGreaterThanOrEqual(30);
    expect(await reader("api-a").read(w)).toMatchObject({ requests: 40, errors: 0 });
  });

  it("publishes late: a read before the delay has passed sees nothing yet", async () => {
    split(50);
    cloud.metrics.publishDelayMs = 400;
    const start = Date.now();
    for (let i = 0; i < 10; i++) await visit();
    const w = { startMs: start, endMs: Date.now() };
    expect(await reader("api-b").read(w)).toEqual({ requests: 0, errors: 0 });
    await new Promise((r) => setTimeout(r, 450));
    expect(await reader("api-b").read(w)).toMatchObject({ requests: 5 });
  });

  it("refuses what the API refuses: an alignment under 60 s, two metric types, a principal without the role", async () => {
    const get = (q: string) =>
      google()
        .request({ url: `${cloud.url}/v3/projects/acme/timeSeries?${q}` })
        .then(
          () => 200,
          (e: { response?: { status: number; data: { error: { message: string } } } }) =>
            `${e.response?.status} ${e.response?.data.error.message}`,
        );
    const end = new Date().toISOString();
    expect(
      await get(
        new URLSearchParams({
          filter: 'metric.type = "run.googleapis.com/request_count"',
          "interval.endTime": end,
          "aggregation.alignmentPeriod": "30s",
          "aggregation.perSeriesAligner": "ALIGN_DELTA",
        }).toString(),
      ),
    ).toBe("400 The alignment period must be at least 60 seconds.");
    expect(
      await get(
        new URLSearchParams({
          filter: 'metric.type = "a" AND metric.type = "b"',
          "interval.endTime": end,
        }).toString(),
      ),
    ).toBe("400 The filter must specify a single metric type.");
    cloud.metrics.denied.add(cloud.googlePrincipal(token)!);
    await expect(
      reader("api-b").read({ startMs: Date.now() - 1000, endMs: Date.now() }),
    ).rejects.toMatchObject({
      status: 403,
    });
  });
});

describe("CloudWatch", () => {
  const invoke = (client: LambdaClient, qualifier: string, payload = "{}") =>
    client.send(
      new InvokeCommand({ FunctionName: "worker", Qualifier: qualifier, Payload: Buffer.from(payload) }),
    );

  it("counts the alias's invocations that the new version ran, its function errors and throttles apart", async () => {
    const lambda = new LambdaClient({ ...aws, endpoint: cloud.url });
    cloud.functions.get("worker")!.aliases.live = {
      FunctionVersion: "1",
      RoutingConfig: { AdditionalVersionWeights: { "2": 0.2 } },
      RevisionId: "r",
    };
    const start = Date.now();
    for (let i = 0; i < 50; i++) await invoke(lambda, "live");
    // The gate's own invocation of the version is not the alias's traffic.
    await invoke(lambda, "2", '{"healthCheck":true,"path":"/health"}');
    cloud.faults.set({ errors: [{ op: "lambda.Invoke", nth: [1, 2, 3], status: 429 }] });
    for (let i = 0; i < 3; i++) await expect(invoke(lambda, "live")).rejects.toThrow();
    const w = { startMs: start, endMs: Date.now() + 1 };
    const cw = new CloudWatchClient({ ...aws, endpoint: cloud.url });
    const v2 = await lambdaMetrics({ client: cw, functionName: "worker", alias: "live", version: "2" }).read(
      w,
    );
    expect(v2).toMatchObject({ requests: 10, errors: 2, throttles: 3 });
    expect(v2.p99LatencyMs).toBeGreaterThanOrEqual(30);
    const v1 = await lambdaMetrics({ client: cw, functionName: "worker", alias: "live", version: "1" }).read(
      w,
    );
    expect(v1).toMatchObject({ requests: 40, errors: 0 });
  });

  it("no invocation is no data, not a zero; a denied account and a throttled read fail as CloudWatch answers them", async () => {
    const cw = new CloudWatchClient({ ...aws, endpoint: cloud.url });
    const read = lambdaMetrics({ client: cw, functionName: "worker", alias: "live", version: "9" });
    const none = await read.read({ startMs: Date.now() - 60_000, endMs: Date.now() });
    expect(none).toMatchObject({ requests: 0, errors: 0 });
    expect(none.p99LatencyMs).toBeUndefined();
    cloud.metrics.denied.add("111111111111");
    await expect(read.read({ startMs: Date.now() - 60_000, endMs: Date.now() })).rejects.toThrow(
      "is not authorized to perform: cloudwatch:GetMetricData",
    );
    cloud.metrics.denied.clear();
    cloud.metrics.failNext = { api: "aws", status: 429, times: 1 };
    await expect(read.read({ startMs: Date.now() - 60_000, endMs: Date.now() })).rejects.toMatchObject({
      name: "Throttling",
    });
  });
});
