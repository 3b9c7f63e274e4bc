/**
 * A loopback stand-in for the two APIs the release step calls, answering as the documented APIs do,
 * with the state a real service would keep: Cloud Run services with revisions and traffic, Lambda
 * functions with published versions and aliases. Each revision or version also answers its own
 * health check, and can be told to fail, so a test can release a broken build.
 *
 * - Cloud Run Admin API v2 (googleapis google/cloud/run/v2/service.proto, traffic_target.proto):
 *   `GET /v2/projects/<p>/locations/<r>/services/<s>`; `PATCH …?updateMask=traffic` returns a
 *   long-running Operation (`GET /v2/<operation name>`); `traffic[]` entries are
 *   `{type, revision, percent, tag}`, percentages must total 100 and name existing revisions;
 *   `trafficStatuses[]` are the same plus each tag's own `uri`.
 * - Lambda API (2015-03-31 paths): `GET|PUT /2015-03-31/functions/<fn>/aliases/<name>` (GetAlias,
 *   UpdateAlias: `FunctionVersion`, `RoutingConfig.AdditionalVersionWeights`, one entry, 0.0-1.0);
 *   `POST /2015-03-31/functions/<fn>/invocations?Qualifier=<v>` (Invoke: a function error is a 200
 *   with `X-Amz-Function-Error`); unknown resources answer 404 `ResourceNotFoundException`
 *   (`x-amzn-ErrorType`), as the SDK expects.
 * - A tagged revision's URL is served here: `http://127.0.0.1:<port>/run/<service>/<tag>`, so a gate
 *   GET of `<uri>/health` reaches the revision the tag names; or, with `runAppHost` (the e2e suite,
 *   whose processes resolve the real host names to loopback), `https://<tag>---<service host>`, as
 *   Cloud Run's own tag URLs are formed (TrafficTargetStatus.uri).
 * - Google's OAuth token endpoint (`POST /token`, oauth2.googleapis.com): an access token for any
 *   refresh-token grant, which is what google-auth-library's `authorized_user` credentials ask for.
 *   Each grant gets a new token (Google's are short-lived too); `googlePrincipal(token)` says whose
 *   refresh token it was, which the stand-in Artifact Registry asks.
 * - ECR's `GetAuthorizationToken` (`POST /` on api.ecr.<region>.amazonaws.com, awsJson1_1 with
 *   `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken`): for each registry
 *   asked (`registryIds`, else the caller's own), a token that decodes to `AWS:<password>` and the
 *   registry's `proxyEndpoint`. The caller's account comes from the access key id in the SigV4
 *   `Authorization` header (`Credential=<key id>/…`, `accounts` option); the signature is not
 *   checked. As in ECR, the token is the caller's, valid on any registry its account may use;
 *   `ecrAccount(password)` says whose it is, which the stand-in ECR registries ask.
 * - `/_fake/…`: what the provider stand-ins do to the cloud (create a service or a revision, publish
 *   a version, create an alias), so the release step and `pulumi refresh` see what they made.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";

export interface TrafficTarget {
  type: string;
  revision?: string;
  percent: number;
  tag?: string;
}

export interface FakeService {
  name: string;
  revisions: string[];
  traffic: TrafficTarget[];
}

export interface FakeAlias {
  FunctionVersion: string;
  RoutingConfig?: { AdditionalVersionWeights?: Record<string, number> };
}

export interface FakeFunction {
  versions: string[];
  aliases: Record<string, FakeAlias>;
}

/** Every change of traffic, in order: what a user could have reached, when. */
export type TrafficEvent =
  | { kind: "cloudrun"; service: string; traffic: TrafficTarget[] }
  | { kind: "lambda"; fn: string; alias: string; version: string; weights: Record<string, number> };

export interface FakeCloudOptions {
  /** The service's `*.run.app` host name (`api-123456789012.us-central1.run.app`); unset: loopback paths. */
  runAppHost?: (service: string) => string;
  /** AWS access key id → the account it belongs to, for ECR's GetAuthorizationToken. @default {} */
  accounts?: Record<string, string>;
}

export class FakeCloud {
  readonly services = new Map<string, FakeService>();
  readonly functions = new Map<string, FakeFunction>();
  /** Revisions or versions whose health check fails (`<service>/<revision>` or `<function>:<version>`). */
  readonly unhealthy = new Set<string>();
  readonly history: TrafficEvent[] = [];
  /** Health checks answered, by the revision or version asked. */
  readonly healthChecks: string[] = [];
  /** How long each health answer takes (a real service's gate is not instant). */
  healthDelayMs = 0;
  /** Revisions and versions created from now on answer unhealthy (a broken build)... */
  failNew = false;
  /** ...after answering healthy this many times (a build that breaks under traffic). */
  failNewAfter = 0;
  private checks = new Map<string, number>();
  /** Access tokens issued → the refresh token they were issued for. */
  private googleTokens = new Map<string, string>();
  /** ECR passwords issued → the account of the caller they were issued to. */
  private ecrPasswords = new Map<string, string>();
  private servers: http.Server[] = [];
  private operations = 0;
  url = "";

  constructor(private readonly options: FakeCloudOptions = {}) {}

  async start(): Promise<this> {
    const server = http.createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.servers.push(server);
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** The same API over TLS, e.g. on 127.0.0.1:443 for host names a test resolves to loopback. */
  async startTls(tls: { cert: string; key: string; port: number }): Promise<void> {
    const server = https.createServer(
      { cert: tls.cert, key: tls.key },
      (req, res) => void this.handle(req, res),
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

  /** Whose refresh token an access token was issued for; undefined for a token never issued. */
  googlePrincipal(accessToken: string): string | undefined {
    return this.googleTokens.get(accessToken);
  }

  /** The account an ECR password was issued to; undefined for one never issued. */
  ecrAccount(password: string): string | undefined {
    return this.ecrPasswords.get(password);
  }

  private mark(key: string): void {
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

  /** A service as `pulumi up` created it: one revision with all traffic. */
  addService(fullName: string, revision: string): void {
    this.mark(`${fullName.split("/").pop()}/${revision}`);
    this.services.set(fullName, {
      name: fullName,
      revisions: [revision],
      traffic: [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision, percent: 100 }],
    });
  }

  /** A template update: a new revision, traffic untouched (it is pinned to revisions by name). */
  addRevision(fullName: string, revision: string): void {
    const svc = this.services.get(fullName)!;
    if (svc.revisions.includes(revision)) return;
    this.mark(`${fullName.split("/").pop()}/${revision}`);
    svc.revisions.push(revision);
  }

  /** Publishing a version; the alias (if any) does not move. */
  publish(fn: string, version: string): void {
    this.mark(`${fn}:${version}`);
    const f = this.functions.get(fn) ?? { versions: [], aliases: {} };
    f.versions.push(version);
    this.functions.set(fn, f);
  }

  setAlias(fn: string, alias: string, version: string): void {
    this.functions.get(fn)!.aliases[alias] = { FunctionVersion: version };
  }

  private statuses(svc: FakeService) {
    return svc.traffic.map((t) => ({ ...t, ...(t.tag ? { uri: this.serviceUri(svc, t.tag) } : {}) }));
  }

  /** A revision's own health answer, by its tag. */
  private async health(
    svc: FakeService | undefined,
    tag: string,
    send: (s: number, v: unknown, h?: Record<string, string>) => void,
  ) {
    const revision = svc?.traffic.find((t) => t.tag === tag)?.revision;
    if (!svc || !revision) return send(404, "no such tag");
    this.healthChecks.push(revision);
    if (this.healthDelayMs) await new Promise((r) => setTimeout(r, this.healthDelayMs));
    return this.sick(`${svc.name.split("/").pop()}/${revision}`)
      ? send(503, "unhealthy", { "content-type": "text/plain" })
      : send(200, "healthy", { "content-type": "text/plain" });
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
    const url = new URL(req.url ?? "/", this.url);
    const send = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(typeof value === "string" ? value : JSON.stringify(value));
    };
    const notFound = (what: string) =>
      send(
        404,
        { Type: "User", message: `Function not found: ${what}` },
        {
          "x-amzn-errortype": "ResourceNotFoundException",
        },
      );

    // A tag URL by host name (`https://<tag>---<service host>/health`).
    const host = /^([a-z0-9-]+)---([^:]+)/.exec(String(req.headers.host ?? ""));
    if (host && this.options.runAppHost) {
      const svc = [...this.services.values()].find((s) => this.options.runAppHost!(s.name) === host[2]);
      return this.health(svc, host[1]!, send);
    }
    // Google's token endpoint: an access token for a refresh-token grant.
    if (url.pathname === "/token" && req.method === "POST") {
      const refreshToken = new URLSearchParams(raw).get("refresh_token") ?? "";
      const token = `ya29.fake-${this.googleTokens.size + 1}-${Math.random().toString(36).slice(2)}`;
      this.googleTokens.set(token, refreshToken);
      return send(200, { access_token: token, expires_in: 3600, token_type: "Bearer" });
    }
    // ECR GetAuthorizationToken (awsJson1_1).
    const target = String(req.headers["x-amz-target"] ?? "");
    if (target === "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" && req.method === "POST") {
      const keyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ""))?.[1] ?? "";
      const region = /^api\.ecr\.([a-z0-9-]+)\.amazonaws\.com/.exec(String(req.headers.host ?? ""))?.[1];
      const account = this.options.accounts?.[keyId];
      if (!account || !region) {
        return send(
          400,
          {
            __type: "UnrecognizedClientException",
            message: "The security token included in the request is invalid.",
          },
          { "content-type": "application/x-amz-json-1.1" },
        );
      }
      const registries = (body.registryIds as string[] | undefined) ?? [account];
      const expiresAt = Math.floor(Date.now() / 1000) + 12 * 3600;
      return send(
        200,
        {
          authorizationData: registries.map((registryId) => {
            const password = `ecr-${account}-${this.ecrPasswords.size + 1}-${Math.random().toString(36).slice(2)}`;
            this.ecrPasswords.set(password, account);
            return {
              authorizationToken: Buffer.from(`AWS:${password}`).toString("base64"),
              expiresAt,
              proxyEndpoint: `https://${registryId}.dkr.ecr.${region}.amazonaws.com`,
            };
          }),
        },
        { "content-type": "application/x-amz-json-1.1" },
      );
    }
    // What the provider stand-ins do.
    if (url.pathname === "/_fake/cloudrun/revision" && req.method === "POST") {
      if (!this.services.has(body.service)) this.addService(body.service, body.revision);
      else {
        this.addRevision(body.service, body.revision);
        // The provider's PATCH carries the traffic it has in state (resource_cloud_run_v2_service.go Update).
        if (body.traffic) this.services.get(body.service)!.traffic = body.traffic;
      }
      return send(200, this.services.get(body.service));
    }
    if (url.pathname === "/_fake/lambda/publish" && req.method === "POST") {
      const version = String((this.functions.get(body.fn)?.versions.length ?? 0) + 1);
      this.publish(body.fn, version);
      return send(200, { version });
    }
    if (url.pathname === "/_fake/lambda/alias" && req.method === "POST") {
      this.setAlias(body.fn, body.alias, body.version);
      return send(200, this.functions.get(body.fn)!.aliases[body.alias]);
    }
    if (url.pathname === "/_fake/lambda/function" && req.method === "GET") {
      return send(200, this.functions.get(url.searchParams.get("fn") ?? "") ?? { versions: [], aliases: {} });
    }

    // Cloud Run v2
    let m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/services\/[^/]+)$/.exec(url.pathname);
    if (m) {
      const svc = this.services.get(m[1]!);
      if (!svc) return send(404, { error: { code: 404, message: `Resource '${m[1]}' was not found` } });
      if (req.method === "GET") {
        return send(200, {
          name: svc.name,
          uri: this.serviceUri(svc),
          traffic: svc.traffic,
          trafficStatuses: this.statuses(svc),
          latestReadyRevision: `${svc.name}/revisions/${svc.revisions.at(-1)}`,
        });
      }
      if (req.method === "PATCH" && url.searchParams.get("updateMask") === "traffic") {
        const traffic = (body.traffic ?? []) as TrafficTarget[];
        const total = traffic.reduce((n, t) => n + (t.percent ?? 0), 0);
        const unknown = traffic.find((t) => t.revision && !svc.revisions.includes(t.revision));
        const op = `${svc.name.replace(/\/services\/.*/, "")}/operations/${++this.operations}`;
        if (total !== 100 || unknown) {
          return send(400, {
            error: {
              code: 400,
              message: unknown
                ? `Revision '${unknown.revision}' does not exist`
                : `traffic percentages sum to ${total}, not 100`,
            },
          });
        }
        svc.traffic = traffic.map((t) => ({ ...t, percent: t.percent ?? 0 }));
        this.history.push({ kind: "cloudrun", service: svc.name, traffic: svc.traffic });
        return send(200, { name: op, done: true });
      }
    }
    m = /^\/v2\/(projects\/.+\/operations\/\d+)$/.exec(url.pathname);
    if (m && req.method === "GET") return send(200, { name: m[1], done: true });

    // A revision's own URL, by tag: its health answer.
    m = /^\/run\/([^/]+)\/([^/]+)(\/.*)$/.exec(url.pathname);
    if (m) {
      const svc = [...this.services.values()].find((s) => s.name.endsWith(`/services/${m![1]}`));
      return this.health(svc, m[2]!, send);
    }

    // Lambda
    m = /^\/2015-03-31\/functions\/([^/]+)\/aliases\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const fnName = decodeURIComponent(m[1]!).split(":").pop()!;
      const fn = this.functions.get(fnName);
      const alias = fn?.aliases[m[2]!];
      if (!fn || !alias) return notFound(`${fnName}:${m[2]}`);
      if (req.method === "PUT") {
        const weights = (body.RoutingConfig?.AdditionalVersionWeights ?? {}) as Record<string, number>;
        const entries = Object.entries(weights);
        const bad =
          !fn.versions.includes(body.FunctionVersion) ||
          entries.length > 1 ||
          entries.some(([v, w]) => !fn.versions.includes(v) || w < 0 || w > 1);
        if (bad) {
          return send(
            400,
            { Type: "User", message: "invalid alias routing" },
            {
              "x-amzn-errortype": "InvalidParameterValueException",
            },
          );
        }
        fn.aliases[m[2]!] = {
          FunctionVersion: body.FunctionVersion,
          RoutingConfig: { AdditionalVersionWeights: weights },
        };
        this.history.push({
          kind: "lambda",
          fn: fnName,
          alias: m[2]!,
          version: body.FunctionVersion,
          weights,
        });
      }
      const a = fn.aliases[m[2]!]!;
      return send(200, {
        AliasArn: `arn:aws:lambda:us-east-1:111111111111:function:${fnName}:${m[2]}`,
        Name: m[2],
        FunctionVersion: a.FunctionVersion,
        // GetAlias omits RoutingConfig when no weights are set.
        ...(a.RoutingConfig && Object.keys(a.RoutingConfig.AdditionalVersionWeights ?? {}).length > 0
          ? { RoutingConfig: a.RoutingConfig }
          : {}),
      });
    }
    m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    if (m && req.method === "POST") {
      const fnName = decodeURIComponent(m[1]!).split(":").pop()!;
      const version = url.searchParams.get("Qualifier") ?? "$LATEST";
      const fn = this.functions.get(fnName);
      if (!fn || !fn.versions.includes(version)) return notFound(`${fnName}:${version}`);
      this.healthChecks.push(version);
      if (this.healthDelayMs) await new Promise((r) => setTimeout(r, this.healthDelayMs));
      return this.sick(`${fnName}:${version}`)
        ? send(
            200,
            { errorType: "Error", errorMessage: "health check failed" },
            {
              "x-amz-function-error": "Unhandled",
              "x-amz-executed-version": version,
            },
          )
        : send(200, { status: "healthy" }, { "x-amz-executed-version": version });
    }
    send(404, { message: `no route for ${req.method} ${url.pathname}` });
  }
}
