/**
 * A small client for the OCI distribution API: just the calls verification and promotion need
 * (manifest GET/HEAD/PUT, blob GET/HEAD and streamed GET, cross-repository mount, monolithic and
 * chunked upload), the registry
 * token dance and basic auth, bounded retries of transient failures, and a count of requests and
 * bytes so the cost of verification can be measured.
 *
 * Why not a library: the maintained Node candidate (`@snyk/docker-registry-v2-client`) resolves an
 * index to one platform's manifest on its own, which hides exactly the failure we must detect (an
 * attestation index where a single manifest was expected).
 */
import * as http from "node:http";
import * as https from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { UserError } from "../errors";

export interface Credentials {
  username: string;
  password: string;
}

export interface ClientOptions {
  credentials?: Credentials;
  /** Attempts per request for 5xx answers, 429 and network errors. @default 4 */
  attempts?: number;
  /** First retry delay; doubles each retry. @default 250 */
  retryDelayMs?: number;
  /**
   * Per-request timeout; a request that carries or streams a blob gets one more second per
   * {@link MIN_THROUGHPUT_BYTES_PER_S} bytes of it, so a large layer has time and a stalled one fails.
   * @default 30000
   */
  timeoutMs?: number;
  /** Use plain HTTP. @default true for loopback registries (127.0.0.0/8, localhost, [::1]), else false */
  plainHttp?: boolean;
}

/** The slowest transfer a blob request is given time for: 1 MiB/s. */
export const MIN_THROUGHPUT_BYTES_PER_S = 1024 * 1024;

export interface TransferStats {
  /** HTTP requests sent, token requests included. */
  requests: number;
  /** Of those, requests to the token endpoint. */
  authRequests: number;
  /** Of those, requests answered 401 with an auth challenge (each is then sent again with credentials). */
  challenges: number;
  /** Response body bytes received. */
  bytes: number;
}

export class RegistryError extends UserError {
  readonly status?: number;
  constructor(message: string, status?: number) {
    super(message, []);
    this.name = "RegistryError";
    this.status = status;
  }
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://…",service="…",scope="…"` (RFC 7235 auth-params). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2])) !== null)
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
  return { scheme: m[1].toLowerCase(), params };
}

export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith("[")
    ? registry.slice(0, registry.indexOf("]") + 1)
    : registry.split(":")[0];
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FetchedManifest {
  status: number;
  body: Buffer;
  contentType?: string;
  /** The registry's `Docker-Content-Digest` header, when sent. */
  digest?: string;
}

/** Per-request overrides of the client's timeout and attempts. */
interface RequestLimits {
  timeoutMs?: number;
  attempts?: number;
}

export class RegistryClient {
  readonly stats: TransferStats = { requests: 0, authRequests: 0, challenges: 0, bytes: 0 };
  private readonly base: string;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly timeoutMs: number;
  /** Authorization header per scope, reused across requests. */
  private readonly auth = new Map<string, string>();

  constructor(
    readonly registry: string,
    private readonly options: ClientOptions = {},
  ) {
    const plain = options.plainHttp ?? isLoopbackHost(registry);
    this.base = `${plain ? "http" : "https"}://${registry}`;
    this.attempts = Math.max(1, options.attempts ?? 4);
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async getManifest(repository: string, reference: string, accept: string): Promise<FetchedManifest> {
    const res = await this.request(
      "GET",
      `/v2/${repository}/manifests/${reference}`,
      `repository:${repository}:pull`,
      {
        accept,
      },
    );
    return {
      status: res.status,
      body: res.body,
      contentType: res.headers.get("content-type") ?? undefined,
      digest: res.headers.get("docker-content-digest") ?? undefined,
    };
  }

  /**
   * The OCI 1.1 referrers of a manifest (distribution-spec `GET /v2/<name>/referrers/<digest>`, an image
   * index), or, where a registry has no referrers API (404), what the spec's fallback tag
   * `sha256-<hex>` holds. Undefined when neither exists.
   */
  async getReferrers(
    repository: string,
    digest: string,
  ): Promise<Array<{ digest: string; artifactType?: string }> | undefined> {
    const index = "application/vnd.oci.image.index.v1+json";
    const scope = `repository:${repository}:pull`;
    let res = await this.request("GET", `/v2/${repository}/referrers/${digest}`, scope, { accept: index });
    if (res.status === 404) {
      res = await this.request("GET", `/v2/${repository}/manifests/${digest.replace(":", "-")}`, scope, {
        accept: index,
      });
    }
    if (res.status !== 200) return undefined;
    try {
      const doc = JSON.parse(res.body.toString("utf8")) as {
        manifests?: Array<{ digest: string; artifactType?: string }>;
      };
      return doc.manifests ?? [];
    } catch {
      return undefined;
    }
  }

  /** The digest a tag points at, or undefined when the tag does not exist. */
  async headManifest(repository: string, reference: string, accept: string): Promise<string | undefined> {
    const res = await this.request(
      "HEAD",
      `/v2/${repository}/manifests/${reference}`,
      `repository:${repository}:pull`,
      {
        accept,
      },
    );
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.fail(res.status, `HEAD manifest ${repository}:${reference}`);
    return res.headers.get("docker-content-digest") ?? undefined;
  }

  async putManifest(repository: string, reference: string, body: Buffer, contentType: string): Promise<void> {
    const res = await this.request(
      "PUT",
      `/v2/${repository}/manifests/${reference}`,
      `repository:${repository}:pull,push`,
      { "content-type": contentType },
      body,
    );
    if (res.status !== 201 && res.status !== 200)
      throw this.fail(res.status, `PUT manifest ${repository}:${reference}`, res.body);
  }

  async getBlob(repository: string, digest: string): Promise<FetchedManifest> {
    const res = await this.request(
      "GET",
      `/v2/${repository}/blobs/${digest}`,
      `repository:${repository}:pull`,
      {},
    );
    return { status: res.status, body: res.body, contentType: res.headers.get("content-type") ?? undefined };
  }

  /**
   * Opens a blob for reading as a stream, following the registry's redirect to its storage; nothing
   * is buffered beyond what the caller has not read yet. `size` (from the descriptor) sets the timeout.
   */
  async openBlob(repository: string, digest: string, size: number): Promise<ReadableStream<Uint8Array>> {
    const scope = `repository:${repository}:pull`;
    const url = `${this.base}/v2/${repository}/blobs/${digest}`;
    const open = (authorization: string | undefined) => {
      this.stats.requests++;
      return fetch(url, {
        headers: authorization ? { authorization } : {},
        redirect: "follow",
        signal: AbortSignal.timeout(this.timeoutFor(size)),
      });
    };
    let res = await open(this.auth.get(scope));
    if (res.status === 401) {
      await res.body?.cancel();
      this.stats.challenges++;
      const authorization = await this.authorize(
        parseChallenge(res.headers.get("www-authenticate") ?? ""),
        scope,
      );
      if (authorization) {
        this.auth.set(scope, authorization);
        res = await open(authorization);
      }
    }
    if (res.status !== 200 || !res.body) {
      throw this.fail(res.status, `GET blob ${repository}@${digest}`, Buffer.from(await res.arrayBuffer()));
    }
    // Lock the body now. undici cancels a body that is neither locked nor read yet when its Response
    // is garbage-collected, and only the body leaves here: a GC before the caller's first read (copy
    // awaits the upload's POST first) would end the stream at 0 bytes, as if the blob were empty
    // (issue 25). The pipe holds the body's reader from here on and moves one chunk ahead at most.
    return res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>());
  }

  /**
   * Uploads a blob from a stream, as `docker push` does: POST for an upload, one PATCH that streams
   * the whole blob (chunked transfer encoding, no `Content-Range`), then PUT with the digest. Memory
   * stays at the stream's buffers whatever the size. Not the spec's multi-PATCH chunked upload: ECR
   * answers its PATCHes 201 and drops every chunk after the first (aws/containers-roadmap#2831), and
   * wants parts of at least 5 MiB; a single streamed PATCH is what every registry takes from Docker.
   * `check` runs after the last byte is sent and before the PUT: it may throw to leave the upload
   * incomplete (it then expires; nothing is written).
   */
  async uploadStream(
    repository: string,
    digest: string,
    size: number,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    check: () => void = () => undefined,
  ): Promise<void> {
    const scope = `repository:${repository}:pull,push`;
    const start = await this.request("POST", `/v2/${repository}/blobs/uploads/`, scope, {});
    const location = start.headers.get("location");
    if (start.status !== 202 || !location)
      throw this.fail(start.status, `start of an upload to ${repository}`, start.body);
    const authorization = this.auth.get(scope);
    this.stats.requests++;
    const patch = await streamRequest(
      "PATCH",
      new URL(location, this.base).toString(),
      {
        "content-type": "application/octet-stream",
        ...(authorization ? { authorization } : {}),
      },
      body,
      this.timeoutFor(size),
    );
    // 202 per the distribution spec; ECR answers 201.
    if (patch.status !== 202 && patch.status !== 201)
      throw this.fail(patch.status, `upload of ${digest} to ${repository}`, patch.body);
    check();
    const url = new URL(patch.location ?? location, this.base);
    url.searchParams.set("digest", digest);
    const put = await this.request("PUT", url.toString(), scope, {}, Buffer.alloc(0), { attempts: 1 });
    if (put.status !== 201) throw this.fail(put.status, `upload of ${digest} to ${repository}`, put.body);
  }

  /** The timeout for a request carrying `bytes` of blob. */
  private timeoutFor(bytes: number): number {
    return this.timeoutMs + Math.ceil((bytes / MIN_THROUGHPUT_BYTES_PER_S) * 1000);
  }

  /** Whether the repository has the blob. */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const res = await this.request(
      "HEAD",
      `/v2/${repository}/blobs/${digest}`,
      `repository:${repository}:pull`,
      {},
    );
    if (res.status === 404) return false;
    if (res.status !== 200) throw this.fail(res.status, `HEAD blob ${repository}@${digest}`);
    return true;
  }

  /**
   * Asks the registry to link a blob from another repository it holds, without a transfer. Returns
   * false when the registry declines (it then opened an upload, which is left to expire).
   */
  async mountBlob(repository: string, digest: string, from: string): Promise<boolean> {
    const res = await this.request(
      "POST",
      `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      // A mount needs push on the destination and pull on the source, in one token.
      `repository:${repository}:pull,push repository:${from}:pull`,
      {},
    );
    // 202 opens an upload instead; a registry that does not support mounts, or credentials that may
    // not read the source repository, answer 4xx: the caller then copies the blob.
    return res.status === 201;
  }

  /** Uploads a blob in one request (POST for an upload URL, then PUT with the digest). */
  async uploadBlob(repository: string, digest: string, body: Buffer): Promise<void> {
    const scope = `repository:${repository}:pull,push`;
    const start = await this.request("POST", `/v2/${repository}/blobs/uploads/`, scope, {});
    const location = start.headers.get("location");
    if (start.status !== 202 || !location)
      throw this.fail(start.status, `start of an upload to ${repository}`, start.body);
    const url = new URL(location, this.base);
    url.searchParams.set("digest", digest);
    const put = await this.request(
      "PUT",
      url.toString(),
      scope,
      { "content-type": "application/octet-stream" },
      body,
    );
    if (put.status !== 201) throw this.fail(put.status, `upload of ${digest} to ${repository}`, put.body);
  }

  fail(status: number, what: string, body?: Buffer): RegistryError {
    const detail = body && body.length > 0 ? `: ${body.toString("utf8").slice(0, 200)}` : "";
    if (status === 401 || status === 403) {
      return new RegistryError(
        `${this.registry} refused ${what} (${status}): check the registry credentials (REGISTRY_USERNAME/REGISTRY_PASSWORD) ` +
          "and that the deploying identity may read this repository",
        status,
      );
    }
    return new RegistryError(`${this.registry} answered ${status} to ${what}${detail}`, status);
  }

  private async request(
    method: string,
    path: string,
    scope: string,
    headers: Record<string, string>,
    body?: Buffer,
    limits: RequestLimits = {},
  ): Promise<{ status: number; headers: Headers; body: Buffer }> {
    let res = await this.send(method, path, headers, body, this.auth.get(scope), limits);
    if (res.status === 401) {
      this.stats.challenges++;
      const challenge = parseChallenge(res.headers.get("www-authenticate") ?? "");
      const authorization = await this.authorize(challenge, scope);
      if (authorization) {
        this.auth.set(scope, authorization);
        res = await this.send(method, path, headers, body, authorization, limits);
      }
    }
    return res;
  }

  private async authorize(challenge: Challenge | undefined, scope: string): Promise<string | undefined> {
    const creds = this.options.credentials;
    const basic = creds
      ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`
      : undefined;
    if (!challenge || challenge.scheme === "basic") return basic;
    if (challenge.scheme !== "bearer" || !challenge.params.realm) return undefined;
    const url = new URL(challenge.params.realm);
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    for (const one of scope.split(" ")) url.searchParams.append("scope", one);
    this.stats.authRequests++;
    const res = await this.sendUrl("GET", url.toString(), basic ? { authorization: basic } : {});
    if (res.status !== 200) throw this.fail(res.status, `a token for ${scope} from ${url.origin}`);
    const token = JSON.parse(res.body.toString("utf8")) as { token?: string; access_token?: string };
    const value = token.token ?? token.access_token;
    if (!value) throw new RegistryError(`${url.origin} answered without a token for ${scope}`);
    return `Bearer ${value}`;
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Buffer,
    authorization?: string,
    limits: RequestLimits = {},
  ) {
    return this.sendUrl(
      method,
      /^https?:\/\//.test(path) ? path : `${this.base}${path}`,
      authorization ? { ...headers, authorization } : headers,
      body,
      limits,
    );
  }

  private async sendUrl(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: Buffer,
    limits: RequestLimits = {},
  ): Promise<{ status: number; headers: Headers; body: Buffer }> {
    let lastError = "";
    const attempts = limits.attempts ?? this.attempts;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await sleep(this.retryDelayMs * 2 ** (attempt - 2));
      this.stats.requests++;
      try {
        const timeoutMs = limits.timeoutMs ?? this.timeoutMs;
        // A blob chunk goes out through node:http, which writes the caller's buffer to the socket as
        // is; fetch copies a request body, and those copies of every chunk wait for the garbage
        // collector, which would make a large copy's memory grow with its chunk count.
        const res =
          body && body.length > 64 * 1024
            ? await sendBuffer(method, url, headers, body, timeoutMs)
            : await fetch(url, {
                method,
                headers,
                body,
                redirect: "follow",
                signal: AbortSignal.timeout(timeoutMs),
              });
        const buf = method === "HEAD" ? Buffer.alloc(0) : Buffer.from(await res.arrayBuffer());
        this.stats.bytes += buf.length;
        if ((res.status >= 500 || res.status === 429) && attempt < attempts) {
          lastError = `${res.status}`;
          continue;
        }
        return { status: res.status, headers: res.headers, body: buf };
      } catch (err) {
        lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        if (attempt === attempts) break;
      }
    }
    throw new RegistryError(
      `${this.registry} did not answer ${method} ${new URL(url).pathname} after ${attempts} attempt${attempts === 1 ? "" : "s"} (last: ${lastError}); ` +
        "check that the registry is reachable from where `pulumi up` runs, then run it again",
    );
  }
}

/** One request whose body is a buffer written as is (no copy), answering like fetch's Response. */
function sendBuffer(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: Buffer,
  timeoutMs: number,
): Promise<{ status: number; headers: Headers; arrayBuffer(): Promise<ArrayBuffer> }> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      { method, headers: { ...headers, "content-length": String(body.length) }, timeout: timeoutMs },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("error", reject);
        res.on("end", () => {
          const answer = Buffer.concat(parts);
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, String(v));
          resolve({
            status: res.statusCode ?? 0,
            headers: h,
            arrayBuffer: async () =>
              answer.buffer.slice(answer.byteOffset, answer.byteOffset + answer.length),
          });
        });
      },
    );
    req.on("timeout", () =>
      req.destroy(
        Object.assign(new Error("The operation was aborted due to timeout"), { name: "TimeoutError" }),
      ),
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** One request whose body is streamed from `body` with backpressure (chunked transfer encoding). */
function streamRequest(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  timeoutMs: number,
): Promise<{ status: number; location?: string; body: Buffer }> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(target, { method, headers, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("error", reject);
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          location: typeof res.headers.location === "string" ? res.headers.location : undefined,
          body: Buffer.concat(parts),
        }),
      );
    });
    req.on("timeout", () =>
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { name: "TimeoutError" })),
    );
    req.on("error", reject);
    pipeline(Readable.from(body), req).catch((err: unknown) => {
      req.destroy(err as Error);
      reject(err);
    });
  });
}
