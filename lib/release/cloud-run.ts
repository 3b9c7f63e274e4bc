/**
 * Cloud Run behind {@link ReleaseTarget}: traffic entries by revision, through the Admin API v2 (REST,
 * through an authorized HTTP client such as google-auth-library's). Each call and field is the
 * documented API's (googleapis google/cloud/run/v2/service.proto, traffic_target.proto):
 *
 * - `services.get`, and `services.patch` (`PATCH https://run.googleapis.com/v2/{name}`) with only
 *   `traffic` (and the etag) in the body and no `updateMask`, as the recorded PATCH and
 *   terraform-provider-google send it: AIP-134 has a service "treat an omitted field mask as an
 *   implied field mask equivalent to all fields that are populated", so the list sent replaces the
 *   stored one. A mask naming a repeated field could append instead (protobuf field_mask.proto: "new
 *   values will be appended"), which no Cloud Run page rules out. The PATCH answers a long-running
 *   Operation that is not done yet (recorded real traffic,
 *   shared/recorded/cloud-run-v2: no `done` key, `metadata` the Service with `reconciling: true`),
 *   polled at `GET /v2/{operation.name}` until `done`, then either `response` or `error`
 *   (google.longrunning.Operation). Every poll has a deadline.
 * - `Service.traffic[]` is a whole list: a PATCH replaces it, so a tag left out is deleted. Tags this
 *   step does not own (`gcloud run deploy --tag`, `update-traffic --set-tags`) are sent back as read.
 * - `Service.etag` changes on every write (the recordings: at the write, not when reconciling ends). It
 *   is `OPTIONAL` on input since googleapis d534d01c (2025-12-05; `OUTPUT_ONLY` before), and AIP-154
 *   ("Resource freshness validation") has a service answer a stale one `ABORTED` (HTTP 409; google/rpc
 *   code.proto `ABORTED = 10`). So the PATCH sends back the etag this step read, and a 409 `ABORTED`
 *   from the call, or `ABORTED` ending its operation, is a {@link TrafficConflict}. No Cloud Run page
 *   says its PATCH checks the etag: the step does not rely on it alone, and re-reads the etag and the
 *   traffic just before each write (run.ts). docs/safe-release.md says what is and is not confirmed.
 * - An operation can end `done` with an `error`: a revision that cannot serve ends one with
 *   `FAILED_PRECONDITION` (9), "Revision '…' is not ready and cannot serve traffic" (reported by users;
 *   no recording shows one). That is a failure of the release, never a conflict.
 * - `Service.template.revision` is the revision the service's last update named: what the stack
 *   releases now. A step releasing another stops (a newer update owns the traffic). Not
 *   `latestCreatedRevision`: a stack that goes back to a known revision name (the same commit and
 *   template as before) creates nothing, and that revision is still the newest release.
 * - `Service.trafficStatuses[]` (output only) carries each tag's own `uri`, which is read, never built.
 */
import { UserError } from "../errors";
import { DEFINITE_IN_A_ROW, waitForHealthy, type HealthCheckOptions } from "../health";
import { cloudRunRevisionShortName, parseCloudRunService } from "../names";
import { DEFAULT_RETRY, pollUntil, realClock, retrying, type Clock, type RetryPolicy } from "./retry";
import {
  CloudCallError,
  TrafficConflict,
  type GateAnswer,
  type ReleaseTarget,
  type Snapshot,
} from "./target";
import { CANDIDATE_TAG, type Traffic } from "./traffic";
import { httpStatusOf, isTransient } from "./transient";

/** How long a Cloud Run gate takes 401 and 403 for an invoker grant still applying (lib/health.ts). */
export const GRANT_PENDING_MS = 180_000;
/** Interval between polls of a long-running operation. */
export const CLOUD_RUN_POLL_MS = 2000;
/** How long one traffic change may take to finish. */
export const CLOUD_RUN_OPERATION_DEADLINE_MS = 600_000;
/** How long one API request may take: gaxios sets no timeout of its own. */
export const CLOUD_RUN_REQUEST_TIMEOUT_MS = 30_000;

/** The slice of google-auth-library's `AuthClient.request` the Google clients here use (Cloud Run, KMS). */
export interface HttpClient {
  request<T>(opts: {
    url: string;
    method?: "GET" | "PATCH" | "POST";
    data?: unknown;
    /** Milliseconds (gaxios `timeout`). */
    timeout?: number;
  }): Promise<{ data: T }>;
}

export interface CloudRunTrafficTarget {
  type?: string;
  revision?: string;
  percent?: number;
  tag?: string;
}
export interface CloudRunTrafficStatus extends CloudRunTrafficTarget {
  uri?: string;
}
export interface CloudRunServiceResource {
  name: string;
  uri?: string;
  etag?: string;
  traffic?: CloudRunTrafficTarget[];
  trafficStatuses?: CloudRunTrafficStatus[];
  latestReadyRevision?: string;
  latestCreatedRevision?: string;
  template?: { revision?: string };
}
/** google.longrunning.Operation; `error` is a google.rpc.Status. */
export interface Operation {
  name: string;
  done?: boolean;
  error?: { code?: number; message?: string };
}

const REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";
const LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST";
/** google.rpc.Code `ABORTED`: what AIP-154 answers a stale etag. */
const ABORTED = 10;

export interface CloudRunTargetOptions {
  http: HttpClient;
  /** `projects/<p>/locations/<r>/services/<name>` */
  service: string;
  revision: string;
  healthPath: string;
  /** Identity token for a private service, minted when the gate runs (never an input). */
  idToken?: (audience: string) => Promise<string>;
  /** @default "https://run.googleapis.com" */
  endpoint?: string;
  health?: Pick<HealthCheckOptions, "attempts" | "delayMs" | "timeoutMs" | "grantPendingMs">;
  /** Interval between polls of a long-running operation. @default CLOUD_RUN_POLL_MS */
  pollMs?: number;
  /** How long one traffic change may take to finish. @default CLOUD_RUN_OPERATION_DEADLINE_MS */
  operationDeadlineMs?: number;
  clock?: Clock;
  /** For a read retried on its own (a poll that answers 503 while the operation runs). @default DEFAULT_RETRY */
  retry?: RetryPolicy;
}

/** Entries in one order, so two reads of the same traffic compare equal. */
const canonical = (entries: CloudRunTrafficTarget[]) =>
  JSON.stringify(
    entries
      .map((t) => [t.type ?? REVISION, t.revision ?? "", t.percent ?? 0, t.tag ?? ""])
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  );

/** The google.rpc status name of an AIP-193 error body, as gaxios hands it over. */
const rpcStatusOf = (err: unknown) =>
  (err as { response?: { data?: { error?: { status?: string } } } }).response?.data?.error?.status;

export function cloudRunTarget(o: CloudRunTargetOptions): ReleaseTarget {
  const clock = o.clock ?? realClock;
  const base = (o.endpoint ?? "https://run.googleapis.com").replace(/\/$/, "");
  const parsed = parseCloudRunService(o.service);
  if (!parsed) throw new UserError(`not a Cloud Run service name: ${JSON.stringify(o.service)}`, []);
  const name = parsed.service;
  const timeout = CLOUD_RUN_REQUEST_TIMEOUT_MS;
  const get = async () =>
    (await o.http.request<CloudRunServiceResource>({ url: `${base}/v2/${o.service}`, timeout })).data;
  /** A read retried on its own (a poll, the gate's look for its URL): never a write. */
  const retriedRead = <T>(what: string, fn: () => Promise<T>) =>
    retrying(what, { clock, policy: o.retry ?? DEFAULT_RETRY, transient: isTransient }, fn);

  /** The entries to send for a split: this step's, then every tag it does not own, as read. */
  const entriesFor = (t: Traffic, basis: CloudRunServiceResource | undefined, tagged: boolean) => {
    const ours: CloudRunTrafficTarget[] = t.map((x) => ({
      type: REVISION,
      revision: x.target,
      percent: x.percent,
      ...(tagged && x.target === o.revision ? { tag: CANDIDATE_TAG } : {}),
    }));
    // The candidate keeps its tag at 0% until it takes traffic.
    if (tagged && !t.some((x) => x.target === o.revision))
      ours.push({ type: REVISION, revision: o.revision, percent: 0, tag: CANDIDATE_TAG });
    const foreign = (basis?.traffic ?? [])
      .filter((x) => x.tag && x.tag !== CANDIDATE_TAG)
      .map((x) => ({ type: x.type ?? REVISION, revision: x.revision, percent: 0, tag: x.tag }));
    return [...ours, ...foreign];
  };

  /** The service each snapshot was read from: the tags a write keeps are the ones its basis read. */
  const readFrom = new WeakMap<Snapshot, CloudRunServiceResource>();
  /** The last service read, for the gate's URL and audience. */
  let service: CloudRunServiceResource | undefined;
  const snapshot = (svc: CloudRunServiceResource): Snapshot => {
    service = svc;
    const latest = (svc.traffic ?? []).find((t) => t.type === LATEST && (t.percent ?? 0) > 0);
    if (latest) {
      throw new UserError(
        `Cloud Run service ${name} routes ${latest.percent}% to LATEST, which already serves ${cloudRunRevisionShortName(svc.latestReadyRevision ?? "")} ungated`,
        [
          `pin traffic to the revision that should serve, then run the update again: gcloud run services update-traffic ${name} --region ${parsed.location} --to-revisions <revision>=100 (docs/safe-release.md, "Existing stacks")`,
        ],
      );
    }
    const tagged = (svc.traffic ?? []).find((t) => t.tag === CANDIDATE_TAG);
    // Shares by revision (a revision may have several entries: its share and tags at 0%).
    const shares = new Map<string, number>();
    for (const t of svc.traffic ?? [])
      if ((t.percent ?? 0) > 0) shares.set(t.revision!, (shares.get(t.revision!) ?? 0) + t.percent!);
    const read: Snapshot = {
      traffic: [...shares].map(([target, percent]) => ({ target, percent })),
      routing: canonical(svc.traffic ?? []),
      version: svc.etag ?? "",
      ...(svc.template?.revision ? { newest: svc.template.revision } : {}),
      ...(tagged?.revision ? { tagged: tagged.revision } : {}),
    };
    readFrom.set(read, svc);
    return read;
  };

  const finish = async (op: Operation): Promise<void> => {
    const done = op.done
      ? op
      : await pollUntil(
          `Cloud Run operation ${op.name}`,
          clock,
          {
            intervalMs: o.pollMs ?? CLOUD_RUN_POLL_MS,
            deadlineMs: o.operationDeadlineMs ?? CLOUD_RUN_OPERATION_DEADLINE_MS,
          },
          () =>
            retriedRead(
              `poll ${op.name}`,
              async () => (await o.http.request<Operation>({ url: `${base}/v2/${op.name}`, timeout })).data,
            ),
          (x) => x.done === true,
        );
    if (done.error) {
      const message = `Cloud Run refused the traffic change of ${name}: ${done.error.message ?? `code ${done.error.code}`}`;
      if (done.error.code === ABORTED) throw new TrafficConflict(message);
      throw new CloudCallError(message);
    }
  };

  return {
    label: `Cloud Run service ${name}`,
    candidate: o.revision,
    read: async () => snapshot(await get()),
    routingOf: (t, basis, { tagged }) => canonical(entriesFor(t, readFrom.get(basis), tagged)),
    async route(t, basis, { tagged }) {
      let op: Operation;
      try {
        op = (
          await o.http.request<Operation>({
            url: `${base}/v2/${o.service}`,
            method: "PATCH",
            timeout,
            data: { traffic: entriesFor(t, readFrom.get(basis), tagged), etag: basis.version },
          })
        ).data;
      } catch (err) {
        const rpc = rpcStatusOf(err);
        if (httpStatusOf(err) === 409 && (rpc === undefined || rpc === "ABORTED"))
          throw new TrafficConflict(
            `Cloud Run refused the write of ${name}'s traffic at etag ${basis.version}: 409 ${rpc ?? ""}`.trim(),
          );
        throw err;
      }
      await finish(op);
      return snapshot(await get());
    },
    async gate(): Promise<GateAnswer> {
      const tagOf = (svc?: CloudRunServiceResource) =>
        svc?.trafficStatuses?.find((t) => t.tag === CANDIDATE_TAG)?.uri;
      // The tag's URL is in `trafficStatuses` once its traffic change has settled: look again for it.
      let tagUrl = tagOf(service);
      if (!tagUrl) {
        const settled = await pollUntil(
          `the URL of the ${CANDIDATE_TAG} tag of ${name}`,
          clock,
          { intervalMs: o.pollMs ?? CLOUD_RUN_POLL_MS, deadlineMs: 60_000 },
          () => retriedRead(`read ${name}`, get),
          (svc) => tagOf(svc) !== undefined,
        ).catch(() => undefined);
        tagUrl = tagOf(settled);
      }
      if (!tagUrl)
        return { healthy: false, last: `Cloud Run reported no URL for the ${CANDIDATE_TAG} tag of ${name}` };
      const token = o.idToken ? await o.idToken(service?.uri ?? tagUrl) : undefined;
      const url = `${tagUrl.replace(/\/$/, "")}${o.healthPath}`;
      // The invoker grant the release step depends on may still be applying on a first deploy.
      const r = await waitForHealthy({
        url,
        expectBody: "healthy",
        bearerToken: token,
        grantPendingMs: GRANT_PENDING_MS,
        ...o.health,
      });
      return {
        healthy: r.healthy,
        last: `${url} answered ${r.last}${r.definite ? ` (${DEFINITE_IN_A_ROW} in a row: the service's own error, not asked again)` : ""}`,
      };
    },
  };
}
