/**
 * A loopback stand-in for the clouds the release step and the suites' clients call, one file per API,
 * each answering as the documented API does, refusals, throttling and slow operations included, and
 * each able to fail on demand through one typed {@link FaultPlan} (`faults.set`, `reset`):
 *
 * - cloud-run.ts: Cloud Run Admin API v2 (services, traffic, long-running operations, etags, tags,
 *   ingress, revision names);
 * - lambda.ts: the Lambda API (aliases with RevisionId, Invoke);
 * - auth.ts: Google's token endpoint and ECR's GetAuthorizationToken;
 * - kms.ts: Cloud KMS asymmetricSign and AWS KMS Sign, with their public keys;
 * - scans.ts: ECR's DescribeImageScanFindings and Container Analysis occurrences, scanning on push
 *   what the real registries (tools/local-registry.ts `notify`) say was pushed;
 * - binauthz.ts: Binary Authorization's attestors, policy and attestations, and Cloud Run's admission
 *   of a revision under it.
 * - metrics.ts: Cloud Monitoring's and CloudWatch's reads of what each revision and version served,
 *   published late as the clouds do.
 *
 * With `runAppHost`, each service's own URL serves users' requests too, split across its revisions
 * by their shares (an alias's invocations likewise, lambda.ts), each answered by the revision's app:
 * healthy, or as `newApps` says (one request in N failing, a latency), and measured into metrics.ts.
 *
 * Each revision or version also answers its own health check, and can be told to fail (`unhealthy`,
 * `failNew`), so a test can release a broken build. A tagged revision's URL is served here:
 * `http://127.0.0.1:<port>/run/<service>/<tag>`, or, with `runAppHost` (the e2e suites, whose processes
 * resolve the real host names to loopback), `https://<tag>---<service host>`, as Cloud Run forms tag URLs.
 *
 * `/_fake/…`: what the provider stand-ins do to the cloud (create a service or a revision, publish a
 * version, create an alias), so the release step and `pulumi refresh` see what they made.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { Credentials } from "./auth";
import {
  CloudRunApi,
  googleError,
  type CloudRunEvent,
  type FakeService,
  type TrafficTarget,
} from "./cloud-run";
import { Faults, type FaultPlan } from "./faults";
import type { JsonBody, Reply } from "./http";
import { LambdaApi, type FakeAlias, type FakeFunction, type LambdaEvent } from "./lambda";
import { KmsApi } from "./kms";
import { ScannerApi } from "./scans";
import { BinauthzApi } from "./binauthz";
import { MetricsApi } from "./metrics";
import { WeightedPicker } from "./weights";

export type { FakeAlias, FakeFunction, FakeService, FaultPlan, TrafficTarget };

/** Every change of traffic, in order: what a user could have reached, when. */
export type TrafficEvent = CloudRunEvent | LambdaEvent;

/**
 * How a revision's or version's app answers users (its /health answer is apart: `unhealthy`). A
 * canary that passes its gate yet fails real requests, or is slow.
 */
export interface AppBehaviour {
  /** Every Nth request fails: a 500 (Cloud Run), a function error (Lambda). 5: one user in five. */
  errorEvery?: number;
  /** How long each request takes to answer. */
  latencyMs?: number;
}

export interface FakeCloudOptions {
  /** The service's `*.run.app` host name (`api-123456789012.us-central1.run.app`); unset: loopback paths. */
  runAppHost?: (service: string) => string;
  /** AWS access key id → the account it belongs to, for ECR's GetAuthorizationToken. @default {} */
  accounts?: Record<string, string>;
  /** A registry host's storage directory, for the scanners to read what was pushed. @default - none */
  registryStorage?: (host: string) => string | undefined;
  /** A Google project's number (its Binary Authorization service agent's name). @default - 123456789012 */
  projectNumber?: (project: string) => string;
}

export class FakeCloud {
  readonly faults = new Faults();
  readonly history: TrafficEvent[] = [];
  /** Revisions or versions whose health check fails (`<service>/<revision>` or `<function>:<version>`). */
  readonly unhealthy = new Set<string>();
  /** Health checks answered, by the revision or version asked. */
  readonly healthChecks: string[] = [];
  /** How long each health answer takes (a real service's gate is not instant). */
  healthDelayMs = 0;
  /** Revisions and versions created from now on answer unhealthy (a broken build)... */
  failNew = false;
  /** ...after answering healthy this many times (a build that breaks under traffic). */
  failNewAfter = 0;
  /**
   * What an unhealthy revision's health check answers: 500, a broken app's own error (Express's
   * default error handler answers an error without a status of its own with 500: expressjs/finalhandler
   * `getResponseStatusCode`, "default status code to 500 if outside valid range"), or 503 for one
   * that is not ready yet (a gateway's answer, retried).
   * @default 500
   */
  unhealthyStatus: 500 | 503 = 500;
  url = "";
  private checks = new Map<string, number>();
  private servers: http.Server[] = [];
  private readonly credentials: Credentials;
  readonly run: CloudRunApi;
  readonly lambda: LambdaApi;
  /** Cloud KMS and AWS KMS signing keys (kms.ts). */
  readonly kms: KmsApi;
  /** The registries' vulnerability scanners (scans.ts). */
  readonly scans: ScannerApi;
  /** Binary Authorization, its notes and attestations (binauthz.ts). */
  readonly binauthz: BinauthzApi;
  /** Cloud Monitoring and CloudWatch, fed by the requests served here (metrics.ts). */
  readonly metrics: MetricsApi;
  /** Revisions and versions created from now on answer users so (a canary broken for real users). */
  newApps: AppBehaviour | undefined;
  /** Each revision's or version's app (`<service>/<revision>`, `<function>:<version>`). */
  readonly apps = new Map<string, AppBehaviour & { served: number }>();
  /** Users' requests split across revisions and versions by their shares (weights.ts). */
  private readonly picker = new WeightedPicker();

  constructor(private readonly options: FakeCloudOptions = {}) {
    this.credentials = new Credentials(options.accounts);
    const record = (e: TrafficEvent) => this.history.push(e);
    const mark = (key: string) => this.mark(key);
    this.kms = new KmsApi(
      (token) => this.credentials.googlePrincipal(token),
      (keyId) => this.credentials.awsAccount(keyId),
    );
    this.scans = new ScannerApi(
      (host) => options.registryStorage?.(host),
      (token) => this.credentials.googlePrincipal(token),
      (keyId) => this.credentials.awsAccount(keyId),
    );
    this.binauthz = new BinauthzApi(
      (token) => this.credentials.googlePrincipal(token),
      options.projectNumber,
    );
    this.scans.attestations = (project, url) => this.binauthz.occurrencesOf(project, url);
    this.metrics = new MetricsApi(
      (token) => this.credentials.googlePrincipal(token),
      (keyId) => this.credentials.awsAccount(keyId),
    );
    this.run = new CloudRunApi(this.faults, record, (svc, tag) => this.serviceUri(svc, tag), mark);
    this.run.admit = (project, image) => this.binauthz.admits(project, image);
    this.lambda = new LambdaApi(
      this.faults,
      record,
      async (fn, version) => {
        this.healthChecks.push(version);
        if (this.healthDelayMs) await new Promise((r) => setTimeout(r, this.healthDelayMs));
        return this.sick(`${fn}:${version}`)
          ? { errorType: "Error", errorMessage: "health check failed" }
          : undefined;
      },
      mark,
      {
        pick: (key, weights) => this.picker.pick(key, weights),
        serve: (fn, version) => this.serveApp(`${fn}:${version}`),
        record: (sample) => this.metrics.lambda.push(sample),
      },
    );
  }

  get services(): Map<string, FakeService> {
    return this.run.services;
  }

  get functions(): Map<string, FakeFunction> {
    return this.lambda.functions;
  }

  /** Back to a cloud that never fails: no faults, no broken builds. Services and functions stay. */
  reset(): void {
    this.faults.reset();
    this.run.reset();
    this.scans.reset();
    this.metrics.reset();
    this.newApps = undefined;
    this.unhealthy.clear();
    this.checks.clear();
    this.failNew = false;
    this.failNewAfter = 0;
    this.unhealthyStatus = 500;
    this.healthDelayMs = 0;
  }

  async start(): Promise<this> {
    const server = http.createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.servers.push(server);
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** The same APIs over TLS, e.g. on 127.0.0.1:443 for host names a test resolves to loopback. */
  async startTls(tls: { cert: string; key: string; port: number }): Promise<void> {
    const server = https.createServer(
      { cert: tls.cert, key: tls.key },
      (req, res) => void this.serve(req, res),
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(tls.port, "127.0.0.1", resolve);
    });
    this.servers.push(server);
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  /** Where real registries send their push notifications (tools/local-registry.ts `notify`). */
  get registryEvents(): string {
    return `${this.url}/_fake/registry/events`;
  }

  /** Whose refresh token an access token was issued for; undefined for a token never issued. */
  googlePrincipal(accessToken: string): string | undefined {
    return this.credentials.googlePrincipal(accessToken);
  }

  /** An access token for `refreshToken`'s principal, as `gcloud auth print-access-token` would give one. */
  async googleAccessToken(refreshToken: string): Promise<string> {
    return this.credentials.googleToken(refreshToken);
  }

  /** An ECR password of `account`, as `aws ecr get-login-password` would give one. */
  ecrLogin(account: string): string {
    return this.credentials.ecrPassword(account);
  }

  /** The account an ECR password was issued to; undefined for one never issued. */
  ecrAccount(password: string): string | undefined {
    return this.credentials.ecrAccount(password);
  }

  /** A service as `pulumi up` created it: one revision with all traffic. */
  addService(fullName: string, revision: string): void {
    this.run.addService(fullName, revision);
  }

  /** A template update: a new revision, traffic untouched (it is pinned to revisions by name). */
  addRevision(fullName: string, revision: string): void {
    this.run.addRevision(fullName, revision);
  }

  /** Publishing a version; the alias (if any) does not move. */
  publish(fn: string, version: string): void {
    this.lambda.publish(fn, version);
  }

  setAlias(fn: string, alias: string, version: string): void {
    this.lambda.setAlias(fn, alias, version);
  }

  private mark(key: string): void {
    if (this.newApps) this.apps.set(key, { ...this.newApps, served: 0 });
    if (this.failNew) {
      this.unhealthy.add(key);
      this.checks.set(key, this.failNewAfter);
    }
  }

  /** Whether this health check fails; a marked key stays healthy for its first `failNewAfter` checks. */
  private sick(key: string): boolean {
    if (!this.unhealthy.has(key)) return false;
    const left = this.checks.get(key) ?? 0;
    this.checks.set(key, left - 1);
    return left <= 0;
  }

  private serviceUri(svc: FakeService, tag?: string): string {
    const short = svc.name.split("/").pop()!;
    const host = this.options.runAppHost?.(svc.name);
    if (host) return tag ? `https://${tag}---${host}` : `https://${host}`;
    return tag ? `${this.url}/run/${short}/${tag}` : `${this.url}/run/${short}`;
  }

  /**
   * How a revision's or version's app answers one user request: whether it fails, after its latency.
   * Apps made before any `newApps` answer at once and never fail.
   */
  private async serveApp(key: string): Promise<{ failed: boolean }> {
    const app = this.apps.get(key);
    if (!app) return { failed: false };
    app.served++;
    if (app.latencyMs) await new Promise((r) => setTimeout(r, app.latencyMs));
    return { failed: app.errorEvery !== undefined && app.served % app.errorEvery === 0 };
  }

  /** What Cloud Monitoring counts of one request a revision served. */
  private measured(svc: FakeService, revision: string, status: number, began: number): void {
    const [, project = "", , location = ""] = svc.name.split("/");
    const at = Date.now();
    const service = svc.name.split("/").pop()!;
    this.metrics.run.push({ project, location, service, revision, status, latencyMs: at - began, at });
  }

  /**
   * A user's request to the service's own URL: one revision, by the traffic's shares (Cloud Run
   * "splits traffic between revisions" by percent: run/docs/rollouts-rollbacks-traffic-migration),
   * answered by its app. Internal-only ingress: 404 from outside, as its tag URLs.
   */
  private async user(svc: FakeService, reply: Reply): Promise<void> {
    const began = Date.now();
    if (svc.ingress === "INGRESS_TRAFFIC_INTERNAL_ONLY")
      return reply(404, "not found", { "content-type": "text/plain" });
    const weights: Record<string, number> = {};
    for (const t of svc.traffic)
      if (t.revision && t.percent > 0) weights[t.revision] = (weights[t.revision] ?? 0) + t.percent;
    const revision = this.picker.pick(svc.name, weights);
    if (!revision) return reply(503, "no revision serves", { "content-type": "text/plain" });
    const { failed } = await this.serveApp(`${svc.name.split("/").pop()}/${revision}`);
    const status = failed ? 500 : 200;
    this.measured(svc, revision, status, began);
    reply(status, failed ? "Internal Server Error" : "ok", { "content-type": "text/plain" });
  }

  /** A revision's own health answer, by its tag; counted in its metrics too (its `route` is "Always empty"). */
  private async health(host: (svc: FakeService) => boolean, tag: string, reply: Reply): Promise<void> {
    const began = Date.now();
    const { svc, revision, status } = this.run.tagged(host, tag);
    if (status) return reply(status, "not found", { "content-type": "text/plain" });
    if (!svc || !revision) return reply(404, "no such tag", { "content-type": "text/plain" });
    this.healthChecks.push(revision);
    if (this.healthDelayMs) await new Promise((r) => setTimeout(r, this.healthDelayMs));
    const sick = this.sick(`${svc.name.split("/").pop()}/${revision}`);
    this.measured(svc, revision, sick ? this.unhealthyStatus : 200, began);
    return sick
      ? reply(this.unhealthyStatus, "unhealthy", { "content-type": "text/plain" })
      : reply(200, "healthy", { "content-type": "text/plain" });
  }

  /** A handler that fails loudly (500 with the error) rather than leaving a client waiting. */
  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      await this.handle(req, res);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`fake cloud: ${err instanceof Error ? err.stack : String(err)}`);
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    // JSON for the APIs; the token endpoint's body is a form (grant_type=refresh_token&…).
    const body = String(req.headers["content-type"] ?? "").includes("json") && raw ? JSON.parse(raw) : {};
    const url = new URL(req.url ?? "/", this.url || "http://127.0.0.1");
    const reply: Reply = (status, value, headers = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(typeof value === "string" ? value : JSON.stringify(value));
    };
    const method = req.method ?? "GET";

    // A tag URL by host name (`https://<tag>---<service host>/health`).
    const host = /^([a-z0-9-]+)---([^:]+)/.exec(String(req.headers.host ?? ""));
    if (host && this.options.runAppHost) {
      return this.health((s) => this.options.runAppHost!(s.name) === host[2], host[1]!, reply);
    }
    // A service's own URL (`https://<service host>/…`): a user's request.
    const own = this.options.runAppHost
      ? [...this.run.services.values()].find(
          (s) => this.options.runAppHost!(s.name) === String(req.headers.host ?? "").replace(/:\d+$/, ""),
        )
      : undefined;
    if (own) return this.user(own, reply);
    if (this.credentials.handle(req, url.pathname, raw, body, reply)) return;
    if (this.stands(method, url, body, reply)) return;
    if (this.kms.handle(req, method, url.pathname, body, reply)) return;
    if (this.binauthz.handle(req, method, url, body, reply)) return;
    if (this.metrics.handle(req, method, url, body, reply)) return;
    if (await this.scans.handle(req, method, url, body, reply)) return;
    if (this.run.handle(method, url.pathname, body, url.searchParams, reply)) return;
    // A revision's own URL, by tag: its health answer.
    const m = /^\/run\/([^/]+)\/([^/]+)(\/.*)$/.exec(url.pathname);
    if (m) return this.health((s) => s.name.endsWith(`/services/${m[1]}`), m[2]!, reply);
    if (await this.lambda.handle(method, url.pathname, body, url.searchParams, reply, raw)) return;
    reply(404, { message: `no route for ${method} ${url.pathname}` });
  }

  /** What the provider stand-ins do. */
  private stands(method: string, url: URL, body: JsonBody, reply: Reply): boolean {
    if (url.pathname === "/_fake/cloudrun/revision" && method === "POST") {
      // The provider sends `binaryAuthorization` with the service (a top-level Service field); Cloud Run
      // checks the new revision's image against the project's policy before it makes the revision.
      const refused = this.run.refusal(
        body.service,
        body.binaryAuthorization?.useDefault === true,
        body.image,
      );
      if (refused) return (reply(400, refused), true);
      if (!this.run.services.has(body.service)) {
        this.run.addService(body.service, body.revision, {
          ...(body.traffic ? { traffic: body.traffic } : {}),
          ingress: body.ingress,
          template: body.template,
        });
      } else {
        const svc = this.run.services.get(body.service)!;
        if (body.ingress) svc.ingress = body.ingress;
        const { conflict } = this.run.addRevision(body.service, body.revision, body.template);
        if (conflict) return (reply(409, googleError(409, conflict, "ALREADY_EXISTS")), true);
        // The provider's PATCH carries the traffic it has in state (resource_cloud_run_v2_service.go Update).
        if (body.traffic) this.run.setTraffic(body.service, body.traffic);
      }
      // `ready`: whether the revision asked for started (the provider waits for the update's operation).
      const svc = this.run.services.get(body.service)!;
      svc.binaryAuthorization = body.binaryAuthorization?.useDefault === true;
      return (reply(200, { ...this.run.resource(svc), ready: this.run.ready(svc, body.revision) }), true);
    }
    if (url.pathname === "/_fake/lambda/publish" && method === "POST") {
      const version = String((this.lambda.functions.get(body.fn)?.versions.length ?? 0) + 1);
      this.lambda.publish(body.fn, version);
      return (reply(200, { version }), true);
    }
    if (url.pathname === "/_fake/lambda/alias" && method === "POST") {
      this.lambda.setAlias(body.fn, body.alias, body.version);
      return (reply(200, this.lambda.functions.get(body.fn)!.aliases[body.alias]), true);
    }
    if (url.pathname === "/_fake/lambda/function" && method === "GET") {
      return (
        reply(
          200,
          this.lambda.functions.get(url.searchParams.get("fn") ?? "") ?? { versions: [], aliases: {} },
        ),
        true
      );
    }
    return false;
  }
}
