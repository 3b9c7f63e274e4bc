/**
 * The clouds behind {@link ReleaseTarget}: Cloud Run traffic through the Admin API v2 (REST, through
 * an authorized HTTP client such as google-auth-library's), Lambda alias routing through the Lambda
 * API (@aws-sdk/client-lambda). Each call and field is the documented API's:
 *
 * - Cloud Run v2 `services.get` / `services.patch` (`PATCH https://run.googleapis.com/v2/{name}`,
 *   query `updateMask`: "The list of fields to be updated"), which returns a long-running Operation
 *   polled at `GET /v2/{operation.name}` until `done`. `Service.traffic[]` is a `TrafficTarget`
 *   (`type` `TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION`, `revision`, `percent`, `tag`);
 *   `Service.trafficStatuses[]` (output only) carries each tag's own `uri`, which is read, never built.
 * - Lambda `GetAlias` / `UpdateAlias` (`FunctionVersion` plus `RoutingConfig.AdditionalVersionWeights`:
 *   "the second version, and the percentage of traffic that's routed to it", 0.0-1.0, one entry: an
 *   alias points to at most two versions) and `Invoke` with `Qualifier` = the version, so the gate
 *   reaches the new version alone.
 */
import {
  GetAliasCommand,
  InvokeCommand,
  LambdaClient,
  ResourceNotFoundException,
  UpdateAliasCommand,
} from "@aws-sdk/client-lambda";
import { UserError } from "./errors";
import { waitForHealthy, type HealthCheckOptions } from "./health";

/** How long a Cloud Run gate takes 401 and 403 for an invoker grant still applying (lib/health.ts). */
export const GRANT_PENDING_MS = 180_000;
import {
  CANDIDATE_TAG,
  lambdaHealthEvent,
  type GateResult,
  type ReleaseTarget,
  type Traffic,
} from "./release";

// ------------------------------------------------------------------------------------------------
// Cloud Run
// ------------------------------------------------------------------------------------------------

/** The slice of google-auth-library's `AuthClient.request` the target uses. */
export interface HttpClient {
  request<T>(opts: { url: string; method?: "GET" | "PATCH"; data?: unknown }): Promise<{ data: T }>;
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
  traffic?: CloudRunTrafficTarget[];
  trafficStatuses?: CloudRunTrafficStatus[];
  latestReadyRevision?: string;
}
interface Operation {
  name: string;
  done?: boolean;
  error?: { code?: number; message?: string };
}

const REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";
const LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST";
const shortRevision = (r: string) => r.split("/").pop()!;

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
  /** Polling interval for long-running operations. @default 2000 */
  pollMs?: number;
}

/** Cloud Run: traffic entries by revision; the candidate's own URL is its `candidate` tag. */
export function cloudRunTarget(o: CloudRunTargetOptions): ReleaseTarget {
  const base = (o.endpoint ?? "https://run.googleapis.com").replace(/\/$/, "");
  const name = o.service.split("/").pop()!;
  const get = async () =>
    (await o.http.request<CloudRunServiceResource>({ url: `${base}/v2/${o.service}` })).data;
  const patchTraffic = async (traffic: CloudRunTrafficTarget[]) => {
    let op = (
      await o.http.request<Operation>({
        url: `${base}/v2/${o.service}?updateMask=traffic`,
        method: "PATCH",
        data: { traffic },
      })
    ).data;
    while (!op.done) {
      await new Promise((r) => setTimeout(r, o.pollMs ?? 2000));
      op = (await o.http.request<Operation>({ url: `${base}/v2/${op.name}` })).data;
    }
    if (op.error) throw new Error(`Cloud Run refused the traffic change of ${name}: ${op.error.message}`);
  };
  /**
   * Live traffic as revision shares. A LATEST entry is refused: it has already moved to the new
   * revision, so there is nothing left to gate before traffic (a service created before releases
   * were gated, or changed with `gcloud run deploy`).
   */
  const traffic = (svc: CloudRunServiceResource): Traffic => {
    const latest = (svc.traffic ?? []).find((t) => t.type === LATEST && (t.percent ?? 0) > 0);
    if (latest) {
      throw new UserError(
        `Cloud Run service ${name} routes ${latest.percent}% to LATEST, which already serves ${shortRevision(svc.latestReadyRevision ?? "")} ungated`,
        [
          `pin traffic to the revision that should serve, then run the update again: gcloud run services update-traffic ${name} --region ${o.service.split("/")[3]} --to-revisions <revision>=100 (docs/safe-release.md, "Existing stacks")`,
        ],
      );
    }
    return (svc.traffic ?? [])
      .filter((t) => (t.percent ?? 0) > 0)
      .map((t) => ({ target: t.revision!, percent: t.percent ?? 0 }));
  };
  const toTargets = (t: Traffic, tagged: boolean): CloudRunTrafficTarget[] => {
    const entries = t.map((x) => ({
      type: REVISION,
      revision: x.target,
      percent: x.percent,
      ...(tagged && x.target === o.revision ? { tag: CANDIDATE_TAG } : {}),
    }));
    // The candidate keeps its tag at 0% until it takes traffic.
    if (tagged && !t.some((x) => x.target === o.revision))
      entries.push({ type: REVISION, revision: o.revision, percent: 0, tag: CANDIDATE_TAG });
    return entries;
  };
  let tagUrl: string | undefined;
  let audience: string | undefined;
  return {
    label: `Cloud Run service ${name}`,
    candidate: o.revision,
    current: async () => traffic(await get()),
    async prepare(current) {
      await patchTraffic(toTargets(current, true));
      const svc = await get();
      audience = svc.uri;
      tagUrl = svc.trafficStatuses?.find((s) => s.tag === CANDIDATE_TAG)?.uri;
      if (!tagUrl) throw new Error(`Cloud Run reported no URL for the ${CANDIDATE_TAG} tag of ${name}`);
    },
    route: (t) => patchTraffic(toTargets(t, true)),
    // The final traffic drops the tag: a plain service after a success, and after a failure the failed
    // revision is no longer reachable at its own URL.
    finish: (t) => patchTraffic(toTargets(t, false)),
    async gate(): Promise<GateResult> {
      const token = o.idToken ? await o.idToken(audience ?? tagUrl!) : undefined;
      const url = `${tagUrl!.replace(/\/$/, "")}${o.healthPath}`;
      // The invoker grant the release step depends on may still be applying on a first deploy.
      const r = await waitForHealthy({
        url,
        expectBody: "healthy",
        bearerToken: token,
        grantPendingMs: GRANT_PENDING_MS,
        ...o.health,
      });
      return { healthy: r.healthy, last: `${url} answered ${r.last}` };
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Lambda
// ------------------------------------------------------------------------------------------------

export interface LambdaTargetOptions {
  client: LambdaClient;
  /** Unqualified function ARN. */
  functionArn: string;
  version: string;
  alias: string;
  healthPath: string;
  /** Invocations tried before the gate counts as failed (a just-published image may still be Pending). */
  attempts?: number;
  delayMs?: number;
}

/** Lambda: the alias points at a version, plus at most one more by weight. */
export function lambdaTarget(o: LambdaTargetOptions): ReleaseTarget {
  const name = o.functionArn.split(":").pop()!;
  return {
    label: `Lambda function ${name}`,
    candidate: o.version,
    async current() {
      try {
        const a = await o.client.send(new GetAliasCommand({ FunctionName: o.functionArn, Name: o.alias }));
        const weights = Object.entries(a.RoutingConfig?.AdditionalVersionWeights ?? {});
        const extra = weights.map(([v, w]) => ({ target: v, percent: Math.round(w * 100) }));
        const rest = 100 - extra.reduce((n, t) => n + t.percent, 0);
        return [{ target: a.FunctionVersion!, percent: rest }, ...extra].filter((t) => t.percent > 0);
      } catch (err) {
        // First release: the alias is created by Pulumi once this step succeeds.
        if (err instanceof ResourceNotFoundException) return [];
        throw err;
      }
    },
    async prepare() {},
    async route(t) {
      const candidate = t.find((x) => x.target === o.version);
      const others = t.filter((x) => x.target !== o.version);
      if (others.length > 1)
        throw new Error(`a Lambda alias routes to at most two versions; cannot route ${JSON.stringify(t)}`);
      const primary = candidate && candidate.percent === 100 ? candidate : (others[0] ?? candidate!);
      const weights: Record<string, number> =
        primary.target === o.version || !candidate ? {} : { [o.version]: candidate.percent / 100 };
      await o.client.send(
        new UpdateAliasCommand({
          FunctionName: o.functionArn,
          Name: o.alias,
          FunctionVersion: primary.target,
          RoutingConfig: { AdditionalVersionWeights: weights },
        }),
      );
    },
    async gate(): Promise<GateResult> {
      let last = "";
      const attempts = o.attempts ?? 5;
      for (let i = 1; i <= attempts; i++) {
        if (i > 1) await new Promise((r) => setTimeout(r, (o.delayMs ?? 3000) * (i - 1)));
        try {
          const r = await o.client.send(
            new InvokeCommand({
              FunctionName: o.functionArn,
              Qualifier: o.version,
              Payload: Buffer.from(lambdaHealthEvent(o.healthPath)),
            }),
          );
          const body = r.Payload ? Buffer.from(r.Payload).toString("utf8").slice(0, 200) : "";
          if (r.FunctionError) {
            last = `FunctionError ${r.FunctionError}: ${body}`;
            // A function error is the code's own answer: asking again will not change it.
            return { healthy: false, last: `version ${o.version} returned ${last}` };
          }
          // Healthy means it says so (apps/worker answers {"status":"healthy"}), not just "no error".
          let status: unknown;
          try {
            status = (JSON.parse(body) as { status?: unknown }).status;
          } catch {
            status = undefined;
          }
          const answer = `version ${o.version} answered ${r.StatusCode} ${body}`;
          if (status === "healthy") return { healthy: true, last: answer };
          last = answer;
        } catch (err) {
          last = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        }
      }
      return { healthy: false, last: `version ${o.version}: ${last}` };
    },
  };
}
