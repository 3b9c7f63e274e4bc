/**
 * Cloud Run Admin API v2, as the release step and the provider stand-ins meet it (googleapis
 * google/cloud/run/v2/service.proto, traffic_target.proto, google/longrunning/operations.proto), held
 * to recorded real traffic by tests/tools/fake-cloud-recordings.test.ts:
 *
 * - `GET /v2/projects/<p>/locations/<r>/services/<s>`: the Service, with `etag` (quoted, new on every
 *   write: the recordings), `template.revision` (the name its last update asked for), `traffic`,
 *   `trafficStatuses` (each tag's own `uri`), `latestCreatedRevision` and `latestReadyRevision`,
 *   `reconciling` while an operation runs (absent when settled).
 * - `PATCH …` with `traffic` in the body and no `updateMask` replaces the whole `traffic` list: AIP-134
 *   has a service "treat an omitted field mask as an implied field mask equivalent to all fields that
 *   are populated", as the recorded PATCH and terraform-provider-google send it. With an explicit
 *   `updateMask=traffic`, protobuf field_mask.proto's rule for a repeated field applies here ("new
 *   values will be appended to the existing repeated field"), which no Cloud Run page rules out.
 *   The PATCH answers an Operation that is not done (no `done` key; `metadata` the Service,
 *   `reconciling: true`), as the recordings' PATCH does; `GET /v2/<operation>` answers not done for
 *   `operationPolls` polls, then `done: true` with `response`, or with `error` (a google.rpc.Status):
 *   `FAILED_PRECONDITION` (9) "Revision '…' is not ready and cannot serve traffic." for a revision
 *   that never became ready (reported by users), or the plan's `operationError`. A failed change does
 *   not take effect: traffic stays what it was.
 * - An `etag` sent in the PATCH body that is not the current one is refused 409 `ABORTED`, as AIP-154
 *   has a service answer a stale etag (`Service.etag` is OPTIONAL on input since googleapis d534d01c).
 *   That Cloud Run checks it is not confirmed by any Cloud Run page; the release does not rely on it
 *   alone (lib/release/cloud-run.ts). A PATCH without one is accepted, as the provider sends none.
 * - Percentages must total 100 and name known revisions (400 `INVALID_ARGUMENT`).
 * - Tag URLs are the service's host with `<tag>---` in front (TrafficTargetStatus.uri). With ingress
 *   `INGRESS_TRAFFIC_INTERNAL_ONLY` they are not reachable from outside ("All ingress paths, including
 *   the default run.app URL, are subject to your ingress setting", Cloud Run ingress docs); a request
 *   from outside gets 404, as users report (no page gives the status). Every request here is outside.
 * - A revision name made again with another template is refused 409 `ALREADY_EXISTS`, "Revision named
 *   '…' with different configuration already exists." (terraform-provider-google #9438, #14569).
 * - Errors are AIP-193 bodies, `{ error: { code, message, status } }`.
 */
import { randomUUID } from "node:crypto";
import type { Faults } from "./faults";
import type { JsonBody, Reply } from "./http";

export interface TrafficTarget {
  type: string;
  revision?: string;
  percent: number;
  tag?: string;
}

export interface FakeService {
  name: string;
  revisions: string[];
  /** Each revision's template, as its creator sent it (JSON): a name re-used with another is refused. */
  templates: Map<string, string>;
  /** Revisions that failed to start (FaultPlan.failStarts): they never become ready. */
  failed: Set<string>;
  /** The revision the service's template names now (`template.revision`): what its last update asked for. */
  current: string;
  traffic: TrafficTarget[];
  ingress: string;
  generation: number;
  etag: string;
  reconciling: boolean;
  /** `binaryAuthorization.useDefault`: each new revision's image must pass the project's policy. */
  binaryAuthorization: boolean;
}

/** A change of a service's traffic; `at`: when it was written (ms since the epoch). */
export type CloudRunEvent = { kind: "cloudrun"; service: string; traffic: TrafficTarget[]; at: number };

interface PendingOperation {
  name: string;
  service: string;
  pollsLeft: number;
  error?: { code: number; message: string };
  /** What to restore when the operation fails: the traffic before it... */
  before: TrafficTarget[];
  /** ...unless the traffic is no longer what the operation wrote (another write came after it). */
  wrote: TrafficTarget[];
}

const STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
};

export const googleError = (code: number, message: string, status = STATUS[code] ?? "UNKNOWN") => ({
  error: { code, message, status },
});

/** Etags as the recordings have them: quoted, opaque, new on every write. */
const newEtag = (svc: { name: string; generation: number }) =>
  `"${Buffer.from(`${svc.generation}/${Date.now()}/${svc.name}`).toString("base64url")}"`;

export class CloudRunApi {
  readonly services = new Map<string, FakeService>();
  private operations = new Map<string, PendingOperation>();
  /**
   * Binary Authorization's verdict on a revision's image (binauthz.ts `admits`), for a service that
   * sets `binaryAuthorization.useDefault`: "each time you deploy a new revision. If the new revision
   * does not conform to the policy, the deployment will fail" (Binary Authorization, "Cloud Run overview").
   */
  admit: (project: string, image: string) => { admitted: true } | { admitted: false; reason: string } =
    () => ({
      admitted: true,
    });

  /** The policy's refusal of a new revision's image, as a Google error body; undefined when admitted. */
  refusal(service: string, enforced: boolean, image: string | undefined): JsonBody | undefined {
    if (!enforced) return undefined;
    const verdict = this.admit(service.split("/")[1]!, image ?? "");
    // Not published for Cloud Run: the status is this fake's choice; the reason is GKE's documented text.
    return verdict.admitted ? undefined : googleError(400, verdict.reason, "FAILED_PRECONDITION");
  }

  constructor(
    private readonly faults: Faults,
    private readonly record: (e: CloudRunEvent) => void,
    private readonly uri: (svc: FakeService, tag?: string) => string,
    /** A revision created from now on: the health stand-in may mark it. */
    private readonly created: (key: string) => void,
  ) {}

  reset(): void {
    this.operations.clear();
  }

  /** A service as `pulumi up` created it: one revision with the traffic given (all of it by default). */
  addService(
    fullName: string,
    revision: string,
    o: { traffic?: TrafficTarget[]; ingress?: string; template?: string } = {},
  ): FakeService {
    this.created(`${short(fullName)}/${revision}`);
    const svc: FakeService = {
      name: fullName,
      revisions: [revision],
      templates: new Map([[revision, o.template ?? ""]]),
      failed: new Set(this.faults.failStart() ? [revision] : []),
      current: revision,
      traffic: o.traffic ?? [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision, percent: 100 }],
      ingress: o.ingress ?? "INGRESS_TRAFFIC_ALL",
      generation: 1,
      etag: "",
      reconciling: false,
      binaryAuthorization: false,
    };
    svc.etag = newEtag(svc);
    this.services.set(fullName, svc);
    return svc;
  }

  /**
   * A template update: a new revision, unless the name is known. A known name with another template
   * is refused (409 ALREADY_EXISTS); with the same one nothing is created (not confirmed: see
   * docs/safe-release.md).
   */
  addRevision(fullName: string, revision: string, template = ""): { conflict?: string } {
    const svc = this.services.get(fullName)!;
    const known = svc.templates.get(revision);
    if (known !== undefined) {
      if (known !== template && known !== "" && template !== "")
        return { conflict: `Revision named '${revision}' with different configuration already exists.` };
      svc.current = revision;
      this.written(svc);
      return {};
    }
    svc.current = revision;
    this.created(`${short(fullName)}/${revision}`);
    if (this.faults.failStart()) svc.failed.add(revision);
    svc.revisions.push(revision);
    svc.templates.set(revision, template);
    this.written(svc);
    return {};
  }

  /** The provider's own traffic write (its Update PATCHes `traffic` from state). */
  setTraffic(fullName: string, traffic: TrafficTarget[]): void {
    const svc = this.services.get(fullName)!;
    svc.traffic = traffic.map((t) => ({ ...t, percent: t.percent ?? 0 }));
    this.written(svc);
    this.record({ kind: "cloudrun", service: svc.name, traffic: svc.traffic, at: Date.now() });
  }

  /**
   * A change of ingress made outside the program, as `gcloud run services update <s> --ingress …`
   * leaves it: a write like any other (new generation and etag), traffic untouched.
   */
  setIngress(fullName: string, ingress: string): void {
    const svc = this.services.get(fullName)!;
    svc.ingress = ingress;
    this.written(svc);
  }

  private written(svc: FakeService): void {
    svc.generation++;
    svc.etag = newEtag(svc);
  }

  resource(svc: FakeService) {
    const base = svc.name.replace(/\/services\/.*/, "");
    return {
      name: svc.name,
      uri: this.uri(svc),
      generation: String(svc.generation),
      ingress: svc.ingress,
      traffic: svc.traffic,
      trafficStatuses: svc.traffic.map((t) => ({ ...t, ...(t.tag ? { uri: this.uri(svc, t.tag) } : {}) })),
      template: { revision: svc.current },
      latestCreatedRevision: `${base}/services/${short(svc.name)}/revisions/${svc.revisions.at(-1)}`,
      latestReadyRevision: `${base}/services/${short(svc.name)}/revisions/${
        [...svc.revisions].reverse().find((r) => this.ready(svc, r)) ?? ""
      }`,
      ...(svc.reconciling ? { reconciling: true } : {}),
      etag: svc.etag,
    };
  }

  /** Whether a revision became ready: not one the plan keeps from it, nor one that failed to start. */
  ready(svc: FakeService, revision: string): boolean {
    return !this.faults.neverReady(`${short(svc.name)}/${revision}`) && !svc.failed.has(revision);
  }

  /** The revision a tag names, for its URL; undefined when the tag is unknown or not reachable. */
  tagged(
    host: (svc: FakeService) => boolean,
    tag: string,
  ): { svc?: FakeService; revision?: string; status?: number } {
    const svc = [...this.services.values()].find(host);
    if (!svc) return {};
    // Internal-only ingress: not reachable from outside the VPC, the run.app URL included.
    if (svc.ingress === "INGRESS_TRAFFIC_INTERNAL_ONLY") return { svc, status: 404 };
    return { svc, revision: svc.traffic.find((t) => t.tag === tag)?.revision };
  }

  handle(method: string, path: string, body: JsonBody, query: URLSearchParams, reply: Reply): boolean {
    let m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/services\/[^/]+)$/.exec(path);
    if (m) {
      const op = method === "GET" ? "run.services.get" : "run.services.patch";
      const failed = this.faults.error(op);
      if (failed) return (reply(failed, googleError(failed, `fake cloud: planned ${failed}`)), true);
      const svc = this.services.get(m[1]!);
      if (!svc) return (reply(404, googleError(404, `Resource '${m[1]}' was not found`)), true);
      if (method === "GET") return (reply(200, this.resource(svc)), true);
      if (method === "PATCH") return (this.patch(svc, body, query.get("updateMask"), reply), true);
    }
    m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/operations\/[^/]+)$/.exec(path);
    if (m && method === "GET") {
      const failed = this.faults.error("run.operations.get");
      if (failed) return (reply(failed, googleError(failed, `fake cloud: planned ${failed}`)), true);
      return (this.poll(m[1]!, reply), true);
    }
    return false;
  }

  private patch(svc: FakeService, body: JsonBody, mask: string | null, reply: Reply): void {
    if (body.etag !== undefined && body.etag !== svc.etag)
      return reply(409, googleError(409, `etag ${body.etag} does not match the current ${svc.etag}`));
    if (body.template) return this.deploy(svc, body, reply);
    const sent = (body.traffic ?? []) as TrafficTarget[];
    const traffic = mask?.split(",").includes("traffic") ? [...svc.traffic, ...sent] : sent;
    const total = traffic.reduce((n, t) => n + (t.percent ?? 0), 0);
    const unknown = traffic.find((t) => t.revision && !svc.revisions.includes(t.revision));
    if (total !== 100 || unknown) {
      return reply(
        400,
        googleError(
          400,
          unknown
            ? `Revision '${unknown.revision}' does not exist`
            : `traffic percentages sum to ${total}, not 100`,
        ),
      );
    }
    const notReady = traffic.find((t) => t.revision && !this.ready(svc, t.revision));
    const name = `${svc.name.replace(/\/services\/.*/, "")}/operations/${randomUUID()}`;
    const before = svc.traffic;
    this.setTraffic(svc.name, traffic);
    svc.reconciling = true;
    const planned = this.faults.operationError();
    const error = notReady
      ? { code: 9, message: `Revision '${notReady.revision}' is not ready and cannot serve traffic.` }
      : planned;
    this.operations.set(name, {
      name,
      service: svc.name,
      pollsLeft: this.faults.current.operationPolls ?? 1,
      ...(error ? { error } : {}),
      before,
      wrote: svc.traffic,
    });
    if (this.faults.lostAnswer("run.services.patch"))
      return reply(503, googleError(503, "fake cloud: the answer to a PATCH that took effect was lost"));
    reply(200, {
      name,
      metadata: { "@type": "type.googleapis.com/google.cloud.run.v2.Service", ...this.resource(svc) },
    });
  }

  /**
   * A PATCH with a `template` (what `gcloud run deploy` sends): a new revision of that template, which
   * the service's Binary Authorization policy must admit first; traffic as the body gives it, else
   * unchanged. A refusal writes nothing. The real PATCH answers a long-running Operation
   * (service.proto UpdateService); this one is answered done at once, since no test polls it, and a
   * planned `run.services.patch` fault refuses it as it refuses any PATCH (`handle`).
   */
  private deploy(svc: FakeService, body: JsonBody, reply: Reply): void {
    const enforced = body.binaryAuthorization?.useDefault ?? svc.binaryAuthorization;
    const refused = this.refusal(svc.name, enforced, body.template?.containers?.[0]?.image);
    if (refused) return reply(400, refused);
    const revision = String(body.template.revision ?? `${short(svc.name)}-${randomUUID().slice(0, 5)}`);
    const { conflict } = this.addRevision(
      svc.name,
      revision,
      JSON.stringify({ ...body.template, revision: undefined }),
    );
    if (conflict) return reply(409, googleError(409, conflict, "ALREADY_EXISTS"));
    if (body.traffic) this.setTraffic(svc.name, body.traffic);
    reply(200, { name: `${svc.name}/operations/${randomUUID()}`, done: true, response: this.resource(svc) });
  }

  private poll(name: string, reply: Reply): void {
    const op = this.operations.get(name);
    if (!op) return reply(404, googleError(404, `Operation '${name}' was not found`));
    const svc = this.services.get(op.service)!;
    const typed = () => ({
      "@type": "type.googleapis.com/google.cloud.run.v2.Service",
      ...this.resource(svc),
    });
    if (op.pollsLeft > 0) {
      op.pollsLeft--;
      return reply(200, { name, metadata: typed() });
    }
    this.operations.delete(name);
    svc.reconciling = false;
    if (op.error) {
      // The change does not take effect: traffic is what it was, unless it has been written since.
      if (svc.traffic === op.wrote) this.setTraffic(svc.name, op.before);
      return reply(200, { name, metadata: typed(), done: true, error: op.error });
    }
    return reply(200, { name, metadata: typed(), done: true, response: typed() });
  }
}

const short = (fullName: string) => fullName.slice(fullName.lastIndexOf("/") + 1);
