/**
 * The registries' vulnerability scanners, as the scan gate meets them (lib/scan/), by their real host
 * names: ECR's `DescribeImageScanFindings` (api.ecr.<region>.amazonaws.com) and Container Analysis
 * occurrences for Artifact Registry (containeranalysis.googleapis.com).
 *
 * Scan on push, from the push itself: each real registry (tools/local-registry.ts) sends
 * docker-distribution's notifications (`notifications.endpoints`, envelope
 * `application/vnd.docker.distribution.events.v1+json`, events with `action`, `target.{mediaType,
 * digest, repository}` and `request.host`: distribution's notifications/event.go) to `POST
 * /_fake/registry/events`. A pushed image manifest starts a scan of that digest, which takes
 * `scanMs`. What it finds comes from the image's bytes, read from the registry's storage: the Alpine
 * package database (`lib/apk/db/installed`, `P:`/`V:` lines) in its layers, matched against
 * {@link VULNERABILITY_DB}. No package database is an unsupported image: "Amazon ECR does not support
 * scanning images built from the Docker scratch image" (ECR user guide, image-scanning-troubleshooting),
 * and grafeas' FINISHED_UNSUPPORTED is "The resource is known not to be supported" (discovery.proto). Nothing here is told a result: a test changes what is
 * found only by pushing other bytes, or says a scan fails (`failScans`).
 *
 * ECR (awsJson1_1, `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.DescribeImageScanFindings`;
 * shapes and enums from @aws-sdk/client-ecr models_0.d.ts): basic scanning reports IN_PROGRESS then
 * COMPLETE with `findings` (`name` the CVE id, `severity`, `attributes` package_name/package_version)
 * and `findingSeverityCounts`; enhanced scanning (Amazon Inspector) reports ACTIVE with
 * `enhancedFindings` (`packageVulnerabilityDetails.vulnerabilityId`, `severity`, `status: ACTIVE`).
 * UNSUPPORTED_IMAGE, FAILED with a `description`. No scan of the digest: `ScanNotFoundException`; no
 * such repository: `RepositoryNotFoundException` (both 400, the command's documented errors). Pages
 * of `maxResults` (1 to 1000, default 100) with `nextToken`.
 *
 * Container Analysis (REST v1 `projects.occurrences.list`, grafeas v1 occurrence, discovery and
 * vulnerability protos): `GET /v1/projects/{project}/occurrences?filter=kind="…" AND resourceUrl="…"`
 * gives `occurrences` (`name`, `resourceUri`, `noteName`, `kind`, `discovery.analysisStatus`
 * PENDING → SCANNING → FINISHED_SUCCESS | FINISHED_FAILED | FINISHED_UNSUPPORTED, or `vulnerability`
 * with `effectiveSeverity` and `shortDescription`, the CVE id, under `projects/goog-vulnz/notes/<id>`)
 * and `nextPageToken` (`pageSize` at most 1000, 20 when unset). A filter this fake cannot read is 400 INVALID_ARGUMENT (its own text).
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { extract } from "tar-stream";
import { awsDenied, bearerToken, googleDenied, ofProject } from "./auth";
import { googleError } from "./cloud-run";
import type { JsonBody, Reply } from "./http";

/** One known-vulnerable package version: this fake's database, the test's fixture, not a feed. */
export interface KnownVulnerability {
  id: string;
  package: string;
  versions: string[];
  severity: "CRITICAL" | "HIGH" | "MEDIUM" | "LOW";
}

/**
 * Real advisories, with the Alpine package versions they name: CVE-2022-37434 (zlib inflate heap
 * overflow, NVD 9.8 CRITICAL; Alpine fixed it in 1.2.12-r2) and CVE-2023-0286 (OpenSSL X.400 type
 * confusion, NVD 7.4 HIGH; fixed in 3.0.8-r0).
 */
export const VULNERABILITY_DB: KnownVulnerability[] = [
  { id: "CVE-2022-37434", package: "zlib", versions: ["1.2.12-r0", "1.2.12-r1"], severity: "CRITICAL" },
  { id: "CVE-2023-0286", package: "libcrypto3", versions: ["3.0.7-r0", "3.0.7-r2"], severity: "HIGH" },
];

type Finding = { id: string; severity: string; package: string; version: string };
type Verdict =
  | { result: "found"; findings: Finding[]; packages: Map<string, string> }
  | { result: "unsupported" }
  | { result: "failed"; description: string };

interface Scan {
  host: string;
  repository: string;
  digest: string;
  started: number;
  verdict: Promise<Verdict>;
  /** Set once the scan's time has passed. */
  done?: Verdict;
  at: number;
}

const IMAGE_MANIFESTS = new Set([
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
]);

export class ScannerApi {
  /** How long a scan takes after its push. */
  scanMs = 0;
  /** Registry host → ECR mode (`<account>.dkr.ecr.…` hosts only). @default basic */
  readonly ecrMode = new Map<string, "basic" | "enhanced">();
  /** Scans started from now on fail with this description (the scanner's own error). */
  failScans: string | undefined;
  /** Registry hosts whose pushes are not scanned (scanning off). */
  readonly notScanned = new Set<string>();
  /** Every request, for tests: which API asked for which digest. */
  readonly calls: { api: "ecr" | "containeranalysis"; digest: string }[] = [];
  private readonly scans = new Map<string, Scan>();
  /**
   * The advisories this scanner knows: {@link VULNERABILITY_DB}, and any a test publishes later
   * (`publish`), as a real feed gains new CVEs.
   */
  readonly database: KnownVulnerability[] = [...VULNERABILITY_DB];
  /**
   * An advisory published right after a read of a finished scan of an image in `repository`
   * (`host/path`) was answered: the moment between a scan gate's read and the next reader's, made
   * deterministic. Disarmed once published.
   */
  publishAfterRead: { repository: string; advisory: KnownVulnerability } | undefined;
  /** Other occurrences of an image in a project, listed with the scan's (binauthz.ts's attestations). */
  attestations: (project: string, resourceUrl: string) => JsonBody[] = () => [];

  constructor(
    /** A registry host's storage directory (distribution's filesystem driver), to read what was pushed. */
    private readonly storage: (host: string) => string | undefined,
    /** The Google principal an access token was issued to (auth.ts). */
    private readonly googlePrincipal: (token: string) => string | undefined,
    /** The AWS account an access key id belongs to (auth.ts). */
    private readonly awsAccount: (accessKeyId: string) => string | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  handle(
    req: { headers: Record<string, unknown> },
    method: string,
    url: URL,
    body: JsonBody,
    reply: Reply,
  ): Promise<boolean> | boolean {
    if (url.pathname === "/_fake/registry/events" && method === "POST")
      return this.events(String(req.headers["x-registry-host"] ?? ""), body, reply);
    const target = String(req.headers["x-amz-target"] ?? "");
    if (target === "AmazonEC2ContainerRegistry_V20150921.DescribeImageScanFindings" && method === "POST") {
      // SigV4's credential scope names the caller's access key; IAM lets only the registry's own account
      // read its scans here (the deployer's role; no repository policy grants it to another account).
      // `Credential=<key id>/<date>/<region>/ecr/aws4_request`.
      const [keyId = "", , region = "us-east-1"] =
        /Credential=([^,\s]+)/.exec(String(req.headers.authorization ?? ""))?.[1]?.split("/") ?? [];
      const account = this.awsAccount(keyId);
      if (account !== String(body.registryId ?? ""))
        return awsDenied(
          reply,
          account,
          "ecr:DescribeImageScanFindings",
          `arn:aws:ecr:${region}:${body.registryId}:repository/${body.repositoryName}`,
        );
      return this.ecr(body, region, reply);
    }
    const m = /^\/v1\/projects\/([^/]+)\/occurrences$/.exec(url.pathname);
    if (m && method === "GET") {
      // Only the project's own principals hold containeranalysis.occurrences.list here; IAM answers a
      // denial and a missing project alike (as for Cloud KMS, kms.ts).
      const project = m[1]!;
      if (!ofProject(this.googlePrincipal(bearerToken(req)) ?? "", project))
        return googleDenied(reply, "containeranalysis.occurrences.list", `projects/${project}`);
      return this.occurrences(project, url.searchParams, reply);
    }
    return false;
  }

  /** docker-distribution's notifications: each pushed image manifest starts a scan. */
  private events(registry: string, body: JsonBody, reply: Reply): boolean {
    for (const e of (body.events ?? []) as JsonBody[]) {
      if (e.action !== "push" || !IMAGE_MANIFESTS.has(e.target?.mediaType)) continue;
      // The registry's name (tools/local-registry.ts `notify`), else the push's Host header.
      const host = (registry || String(e.request?.host ?? "")).replace(/:443$/, "");
      if (this.notScanned.has(host)) continue;
      const key = `${host}/${e.target.repository}@${e.target.digest}`;
      if (this.scans.has(key)) continue;
      const failed = this.failScans;
      const verdict: Promise<Verdict> = failed
        ? Promise.resolve({ result: "failed", description: failed })
        : this.scan(host, e.target.digest).catch((err: Error) => ({
            result: "failed",
            description: err.message,
          }));
      this.scans.set(key, {
        host,
        repository: e.target.repository,
        digest: e.target.digest,
        started: this.now(),
        at: this.now(),
        verdict,
      });
    }
    reply(200, {});
    return true;
  }

  /** A new advisory: continuous scanners report it on images they scanned already (see `state`). */
  publish(advisory: KnownVulnerability): void {
    this.database.push(advisory);
  }

  /**
   * The scan of `host/repository@digest` if its time has passed, else "in progress"; undefined: none.
   * Artifact Analysis and ECR's enhanced scanning analyse continuously: "Continuous analysis …
   * updates vulnerability information for images" as new advisories come (Artifact Analysis,
   * "Container scanning overview"); enhanced scanning "automatically rescans … when a new CVE is
   * published" (ECR user guide, "Enhanced scanning"). Their findings are matched against today's
   * advisories on every read. ECR's basic scanning is once, on push: its findings stay as scanned.
   */
  private async state(
    host: string,
    repository: string,
    digest: string,
  ): Promise<Verdict | "running" | undefined> {
    const s = this.scans.get(`${host}/${repository}@${digest}`);
    if (!s) return undefined;
    if (this.now() - s.started < this.scanMs) return "running";
    s.done ??= await s.verdict;
    const continuous = !/\.dkr\.ecr\./.test(host) || this.ecrMode.get(host) === "enhanced";
    if (s.done.result === "found" && continuous) return { ...s.done, findings: this.match(s.done.packages) };
    return s.done;
  }

  /** After a finished scan of an image was read: the armed advisory, if it is for that repository. */
  private afterRead(host: string, repository: string, state: Verdict | "running" | undefined): void {
    const armed = this.publishAfterRead;
    if (!armed || state === undefined || state === "running" || armed.repository !== `${host}/${repository}`)
      return;
    this.publishAfterRead = undefined;
    this.publish(armed.advisory);
  }

  private match(installed: Map<string, string>): Finding[] {
    return this.database
      .filter((v) => v.versions.includes(installed.get(v.package) ?? ""))
      .map((v) => ({
        id: v.id,
        severity: v.severity,
        package: v.package,
        version: installed.get(v.package)!,
      }));
  }

  /** Reads the image from storage and matches its Alpine packages. */
  private async scan(host: string, digest: string): Promise<Verdict> {
    const root = this.storage(host);
    if (!root) return { result: "failed", description: `no storage for ${host}` };
    const blob = (d: string) => {
      const hex = d.replace(/^sha256:/, "");
      return fs.readFileSync(
        path.join(root, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data"),
      );
    };
    const manifest = JSON.parse(blob(digest).toString("utf8")) as { layers?: { digest: string }[] };
    // The topmost layer that holds the package database is the image's (a later layer replaces it).
    let packages: Map<string, string> | undefined;
    for (const layer of manifest.layers ?? []) {
      let bytes = blob(layer.digest);
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
      const db = await fileInTar(bytes, "lib/apk/db/installed");
      if (db === undefined) continue;
      packages = new Map();
      let name = "";
      for (const line of db.split("\n")) {
        if (line.startsWith("P:")) name = line.slice(2);
        if (line.startsWith("V:") && name) packages.set(name, line.slice(2));
      }
    }
    if (!packages) return { result: "unsupported" };
    return { result: "found", findings: this.match(packages), packages };
  }

  /** Back to scans that succeed at once, and to the fixture's advisories; scans made so far stay. */
  reset(): void {
    this.database.splice(0, this.database.length, ...VULNERABILITY_DB);
    this.publishAfterRead = undefined;
    this.scanMs = 0;
    this.failScans = undefined;
    this.notScanned.clear();
    this.ecrMode.clear();
  }

  private async ecr(body: JsonBody, region: string, reply: Reply): Promise<boolean> {
    const json = { "content-type": "application/x-amz-json-1.1" };
    const fail = (type: string, message: string) => (reply(400, { __type: type, message }, json), true);
    const repository = String(body.repositoryName ?? "");
    const digest = String(body.imageId?.imageDigest ?? "");
    this.calls.push({ api: "ecr", digest });
    // The registry of that account in the region the request was signed for.
    const scanHost = `${body.registryId}.dkr.ecr.${region}.amazonaws.com`;
    const hostScans = [...this.scans.values()].filter((s) => s.host === scanHost);
    if (
      !hostScans.some((s) => s.repository === repository) &&
      !this.storageHasRepository(scanHost, repository)
    )
      return fail(
        "RepositoryNotFoundException",
        `The repository with name '${repository}' does not exist in the registry with id '${body.registryId}'`,
      );
    const state = await this.state(scanHost, repository, digest);
    if (state === undefined)
      return fail(
        "ScanNotFoundException",
        `Image scan does not exist for the image with '{imageDigest:'${digest}'}' in the repository with name '${repository}' in the registry with id '${body.registryId}'`,
      );
    const enhanced = this.ecrMode.get(scanHost) === "enhanced";
    const base = {
      registryId: body.registryId,
      repositoryName: repository,
      imageId: { imageDigest: digest },
    };
    if (state === "running")
      return (
        reply(200, { ...base, imageScanStatus: { status: enhanced ? "PENDING" : "IN_PROGRESS" } }, json),
        true
      );
    if (state.result === "unsupported")
      return (
        reply(
          200,
          {
            ...base,
            imageScanStatus: {
              status: "UNSUPPORTED_IMAGE",
              description: "The operating system and/or package manager are not supported.",
            },
          },
          json,
        ),
        true
      );
    if (state.result === "failed")
      return (
        reply(200, { ...base, imageScanStatus: { status: "FAILED", description: state.description } }, json),
        true
      );
    const max = Math.min(Math.max(Number(body.maxResults ?? 100), 1), 1000);
    const from = Number(body.nextToken ?? 0);
    const page = state.findings.slice(from, from + max);
    const nextToken = from + max < state.findings.length ? String(from + max) : undefined;
    const counts: Record<string, number> = {};
    for (const f of state.findings) counts[f.severity] = (counts[f.severity] ?? 0) + 1;
    reply(
      200,
      {
        ...base,
        imageScanStatus: enhanced
          ? { status: "ACTIVE", description: "Continuous scan is selected for image." }
          : { status: "COMPLETE", description: "The scan was completed successfully." },
        imageScanFindings: {
          findingSeverityCounts: counts,
          ...(enhanced
            ? {
                enhancedFindings: page.map((f) => ({
                  severity: f.severity,
                  status: "ACTIVE",
                  packageVulnerabilityDetails: {
                    vulnerabilityId: f.id,
                    vulnerablePackages: [{ name: f.package, version: f.version, packageManager: "OS" }],
                  },
                })),
              }
            : {
                findings: page.map((f) => ({
                  name: f.id,
                  severity: f.severity,
                  uri: `https://nvd.nist.gov/vuln/detail/${f.id}`,
                  attributes: [
                    { key: "package_name", value: f.package },
                    { key: "package_version", value: f.version },
                  ],
                })),
              }),
        },
        ...(nextToken ? { nextToken } : {}),
      },
      json,
    );
    return true;
  }

  private storageHasRepository(host: string, repository: string): boolean {
    const root = this.storage(host);
    return !!root && fs.existsSync(path.join(root, "docker/registry/v2/repositories", repository));
  }

  private async occurrences(project: string, params: URLSearchParams, reply: Reply): Promise<boolean> {
    const filter = params.get("filter") ?? "";
    const terms = new Map<string, string>();
    const rest = filter.replace(/\b(kind|resourceUrl)\s*=\s*"([^"]*)"/g, (_, k: string, v: string) => {
      terms.set(k, v);
      return "";
    });
    const url = terms.get("resourceUrl");
    const m = url && /^https:\/\/([^/]+)\/(.+)@(sha256:[0-9a-f]{64})$/.exec(url);
    if (rest.replace(/\bAND\b|[()]/g, "").trim() !== "" || !m) {
      reply(
        400,
        googleError(400, `fake cloud: cannot read the filter ${JSON.stringify(filter)}`, "INVALID_ARGUMENT"),
      );
      return true;
    }
    const [, host, repository, digest] = m as unknown as [string, string, string, string];
    this.calls.push({ api: "containeranalysis", digest });
    const state = await this.state(host, repository, digest);
    const kind = terms.get("kind");
    const occurrence = (k: string, noteName: string, extra: JsonBody) => ({
      name: `projects/${project}/occurrences/${randomUUID()}`,
      resourceUri: url,
      noteName,
      kind: k,
      ...extra,
    });
    const all: JsonBody[] = [];
    if (state !== undefined) {
      const analysisStatus =
        state === "running"
          ? "SCANNING"
          : state.result === "unsupported"
            ? "FINISHED_UNSUPPORTED"
            : state.result === "failed"
              ? "FINISHED_FAILED"
              : "FINISHED_SUCCESS";
      all.push(
        occurrence("DISCOVERY", "projects/goog-analysis/notes/PACKAGE_VULNERABILITY", {
          discovery: {
            analysisStatus,
            continuousAnalysis: "ACTIVE",
            ...(state !== "running" && state.result === "failed"
              ? { analysisStatusError: { code: 13, message: state.description } }
              : {}),
          },
        }),
      );
      if (state !== "running" && state.result === "found")
        for (const f of state.findings)
          all.push(
            occurrence("VULNERABILITY", `projects/goog-vulnz/notes/${f.id}`, {
              vulnerability: {
                severity: f.severity,
                effectiveSeverity: f.severity,
                shortDescription: f.id,
                packageIssue: [
                  {
                    affectedPackage: f.package,
                    affectedVersion: { name: f.version, kind: "NORMAL" },
                    packageType: "OS",
                  },
                ],
              },
            }),
          );
    }
    all.push(...this.attestations(project, url));
    const matching = all.filter((o) => kind === undefined || o.kind === kind);
    // "Max allowed page size is 1000. If not specified, page size defaults to 20." (grafeas.proto)
    const size = Math.min(Math.max(Number(params.get("pageSize") ?? 20), 1), 1000);
    const from = Number(params.get("pageToken") ?? 0);
    const next = from + size < matching.length ? String(from + size) : undefined;
    reply(200, { occurrences: matching.slice(from, from + size), ...(next ? { nextPageToken: next } : {}) });
    if (kind === "VULNERABILITY") this.afterRead(host, repository, state);
    return true;
  }
}

/** The text of one file in a tar stream, or undefined. */
function fileInTar(tar: Buffer, name: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const ex = extract();
    let found: string | undefined;
    ex.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      const wanted = header.name.replace(/^\.?\//, "") === name;
      stream.on("data", (c: unknown) => {
        if (wanted) chunks.push(c as Buffer);
      });
      stream.on("end", () => {
        if (wanted) found = Buffer.concat(chunks).toString("utf8");
        next();
      });
      stream.resume();
    });
    ex.on("finish", () => resolve(found));
    ex.on("error", reject);
    ex.end(tar);
  });
}
