/**
 * The fake Cloud Run is held to recorded real traffic: ../shared/recorded/cloud-run-v2 (go-vcr
 * cassettes recorded against real Cloud Run through terraform-provider-google's client; provenance in
 * its README). A PATCH answers an Operation that is not done, polls show it reconciling before `done`,
 * the etag is quoted and new on every write, and the settled Service has no `reconciling`. The
 * recordings must be there: a missing file fails, it never skips.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { FakeCloud } from "../../tools/fake-cloud";

const RECORDED = path.resolve(
  __dirname,
  "../../../shared/recorded/cloud-run-v2/runservicebasic_tf_2024-04-11.yaml",
);
interface Interaction {
  request: { method: string; url: string };
  response: { code: number; body: string };
}
const SERVICE = "projects/acme/locations/us-central1/services/api";

let cloud: FakeCloud;
let real: { method: string; path: string; body: Record<string, any> }[];
beforeAll(async () => {
  const cassette = parse(fs.readFileSync(RECORDED, "utf8")) as { interactions: Interaction[] };
  real = cassette.interactions
    .filter((i) => i.response.code === 200)
    .map((i) => ({
      method: i.request.method,
      path: new URL(i.request.url).pathname,
      body: JSON.parse(i.response.body) as Record<string, any>,
    }));
  cloud = await new FakeCloud().start();
  cloud.addService(SERVICE, "api-a");
  cloud.addRevision(SERVICE, "api-b");
});
afterAll(() => cloud.stop());

const call = async (method: string, p: string, body?: unknown) => {
  const res = await fetch(`${cloud.url}${p}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as Record<string, any>;
};
/** The keys that say what kind of answer it is, with the types of their values. */
const shape = (o: Record<string, any>) =>
  Object.fromEntries(
    ["name", "done", "metadata", "response", "error"].filter((k) => k in o).map((k) => [k, typeof o[k]]),
  );

describe("the fake Cloud Run answers in the recorded shapes", () => {
  it("a PATCH answers an Operation that is not done, typed as a Service and reconciling", async () => {
    const recorded = real.find((r) => r.method === "PATCH")!.body;
    const fake = await call("PATCH", `/v2/${SERVICE}`, {
      traffic: [
        { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "api-a", percent: 100 },
        { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "api-b", percent: 0, tag: "next" },
      ],
    });
    expect(shape(fake)).toEqual(shape(recorded));
    expect("done" in recorded).toBe(false);
    for (const op of [recorded, fake]) {
      expect(op.name).toMatch(/^projects\/[^/]+\/locations\/[^/]+\/operations\/[0-9a-f-]{36}$/);
      expect(op.metadata["@type"]).toBe("type.googleapis.com/google.cloud.run.v2.Service");
      expect(op.metadata.reconciling).toBe(true);
      expect(op.metadata.etag).toMatch(/^".+"$/);
      expect(typeof op.metadata.generation).toBe("string");
    }
    // Polls: not done first (reconciling), then done with the Service as `response`.
    const recordedPolls = real
      .filter((r) => r.path.endsWith(recorded.name.split("/").pop()!))
      .map((r) => r.body);
    const fakePolls = [await call("GET", `/v2/${fake.name}`), await call("GET", `/v2/${fake.name}`)];
    expect(recordedPolls.map(shape)).toEqual(fakePolls.map(shape));
    expect(recordedPolls[0]!.metadata.reconciling).toBe(true);
    expect(fakePolls[0]!.metadata.reconciling).toBe(true);
    for (const done of [recordedPolls.at(-1)!, fakePolls.at(-1)!]) {
      expect(done.done).toBe(true);
      expect(done.response["@type"]).toBe("type.googleapis.com/google.cloud.run.v2.Service");
      expect(done.response.reconciling).toBeUndefined();
    }
  });

  it("the etag is new at each write and kept while nothing is written, as recorded", async () => {
    // Recorded: the PATCH's operation carries the new etag; the GETs after it keep that etag.
    const patch = real.find((r) => r.method === "PATCH")!;
    const after = real
      .slice(real.indexOf(patch) + 1)
      .filter((r) => r.method === "GET" && r.path.includes("/services/"));
    const before = real
      .slice(0, real.indexOf(patch))
      .filter((r) => r.method === "GET" && r.path.includes("/services/"));
    expect(before.at(-1)!.body.etag).not.toBe(patch.body.metadata.etag);
    expect(after.every((r) => r.body.etag === patch.body.metadata.etag)).toBe(true);

    const first = await call("GET", `/v2/${SERVICE}`);
    const again = await call("GET", `/v2/${SERVICE}`);
    expect(again.etag).toBe(first.etag);
    const op = await call("PATCH", `/v2/${SERVICE}`, {
      traffic: [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "api-b", percent: 100 }],
    });
    expect(op.metadata.etag).not.toBe(first.etag);
    await call("GET", `/v2/${op.name}`);
    await call("GET", `/v2/${op.name}`);
    expect((await call("GET", `/v2/${SERVICE}`)).etag).toBe(op.metadata.etag);
  });

  it("an ingress change made by hand is a write: the GET shows it with a new etag and generation, traffic as it was", async () => {
    const before = await call("GET", `/v2/${SERVICE}`);
    cloud.run.setIngress(SERVICE, "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER");
    const after = await call("GET", `/v2/${SERVICE}`);
    cloud.run.setIngress(SERVICE, before.ingress);
    expect(after.ingress).toBe("INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER");
    expect(after.etag).not.toBe(before.etag);
    expect(Number(after.generation)).toBe(Number(before.generation) + 1);
    expect(after.traffic).toEqual(before.traffic);
  });

  it("a settled Service has the recorded fields the release reads, and no reconciling", async () => {
    const recorded = real.filter((r) => r.method === "GET" && r.path.includes("/services/")).at(-1)!.body;
    const fake = await call("GET", `/v2/${SERVICE}`);
    for (const field of [
      "name",
      "uri",
      "etag",
      "generation",
      "traffic",
      "trafficStatuses",
      "latestReadyRevision",
      "latestCreatedRevision",
      "ingress",
    ]) {
      expect(recorded, field).toHaveProperty(field);
      expect(fake, field).toHaveProperty(field);
    }
    expect(recorded.reconciling).toBeUndefined();
    expect(fake.reconciling).toBeUndefined();
    expect(recorded.latestCreatedRevision).toMatch(
      /^projects\/[^/]+\/locations\/[^/]+\/services\/[^/]+\/revisions\/[^/]+$/,
    );
    expect(fake.latestCreatedRevision).toMatch(
      /^projects\/[^/]+\/locations\/[^/]+\/services\/[^/]+\/revisions\/[^/]+$/,
    );
  });
});

describe("the fake Cloud Run refuses what Cloud Run refuses", () => {
  const post = async (body: unknown) => {
    const res = await fetch(`${cloud.url}/_fake/cloudrun/revision`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const NAMED = "projects/acme/locations/us-central1/services/named";

  it("a known revision name with another template: 409 ALREADY_EXISTS; with the same one, it is the service's again", async () => {
    expect((await post({ service: NAMED, revision: "named-a", template: '{"env":"1"}' })).status).toBe(200);
    expect((await post({ service: NAMED, revision: "named-b", template: '{"env":"2"}' })).status).toBe(200);
    const conflict = await post({ service: NAMED, revision: "named-a", template: '{"env":"3"}' });
    expect(conflict).toEqual({
      status: 409,
      body: {
        error: {
          code: 409,
          message: "Revision named 'named-a' with different configuration already exists.",
          status: "ALREADY_EXISTS",
        },
      },
    });
    const again = await post({ service: NAMED, revision: "named-a", template: '{"env":"1"}' });
    expect(again.status).toBe(200);
    expect(again.body.template).toEqual({ revision: "named-a" });
    expect(cloud.services.get(NAMED)!.revisions).toEqual(["named-a", "named-b"]);
  });

  it("a traffic change with a stale etag: 409 ABORTED, and nothing changes", async () => {
    const svc = await call("GET", `/v2/${NAMED}`);
    await call("PATCH", `/v2/${NAMED}`, {
      traffic: [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "named-b", percent: 100 }],
      etag: svc.etag,
    });
    const stale = await fetch(`${cloud.url}/v2/${NAMED}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        traffic: [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "named-a", percent: 100 }],
        etag: svc.etag,
      }),
    });
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as { error: { status: string } }).error.status).toBe("ABORTED");
    expect(cloud.services.get(NAMED)!.traffic).toEqual([
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "named-b", percent: 100 },
    ]);
  });
});

describe("the fake's traffic PATCH follows the field-mask rules", () => {
  it("no updateMask: the list sent replaces the stored one (AIP-134's implied mask); updateMask=traffic appends", async () => {
    const S = "projects/acme/locations/us-central1/services/masked";
    cloud.addService(S, "masked-a");
    cloud.addRevision(S, "masked-b");
    const b100 = [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "masked-b", percent: 100 }];
    const appended = await fetch(`${cloud.url}/v2/${S}?updateMask=traffic`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ traffic: b100 }),
    });
    // Appended to a-100: 200% in all, refused.
    expect(appended.status).toBe(400);
    await call("PATCH", `/v2/${S}`, { traffic: b100 });
    expect(cloud.services.get(S)!.traffic).toEqual(b100);
  });
});
