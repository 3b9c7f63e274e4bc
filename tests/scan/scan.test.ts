/**
 * The scan gate: the decision (thresholds, the allow-list and its expiry, closed by default), the wait,
 * the step's codec, and both registries' scans read through the real clients (@aws-sdk/client-ecr,
 * google-auth-library) from the fake scanners (tools/fake-cloud/scans.ts), which scan on push what
 * real registries say was pushed: no result is written by a test, only images with other bytes.
 */
import { ECRClient } from "@aws-sdk/client-ecr";
import { OAuth2Client } from "google-auth-library";
import { pack } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HttpClient } from "../../lib/release/cloud-run";
import { realClock, virtualClock } from "../../lib/release/retry";
import { readContainerAnalysisScan } from "../../lib/scan/container-analysis";
import { readEcrScan } from "../../lib/scan/ecr";
import { judgeScan, waitForScan, type ScanGate, type ScanState } from "../../lib/scan/gate";
import { decodeScanArgs, decodeScanStep, encodeScanStep, scannerOf } from "../../lib/scan/step";
import { FakeCloud } from "../../tools/fake-cloud";
import { pushImage } from "../../tools/image-fixtures";
import { startRegistry, type LocalRegistry } from "../../tools/local-registry";

const GATE: ScanGate = { maxCritical: 0, maxHigh: 5, deadlineSeconds: 60, allow: [], allowUnscanned: false };
const DAY = new Date("2026-12-07T12:00:00Z");
const zlib = { id: "CVE-2022-37434", severity: "CRITICAL" as const, package: "zlib 1.2.12-r1" };
const high = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `CVE-2026-${1000 + i}`, severity: "HIGH" as const }));

describe("judgeScan", () => {
  it("passes under the thresholds and refuses over them, naming the severity, the count, the limit and the finding", () => {
    expect(judgeScan({ status: "complete", findings: high(5) }, GATE, DAY)).toMatchObject({
      ok: true,
      code: "scan.passed",
      detail: "0 critical (max 0), 5 high (max 5), 0 medium",
    });
    const refused = judgeScan({ status: "complete", findings: [zlib, ...high(6)] }, GATE, DAY);
    expect(refused).toMatchObject({ ok: false, code: "scan.findings" });
    expect(refused.detail).toMatch(
      /^critical 1 > maxCritical 0, high 6 > maxHigh 5: CVE-2022-37434 \(CRITICAL, zlib 1\.2\.12-r1\)/,
    );
  });

  it("counts a vulnerability once however many packages report it", () => {
    const twice = [zlib, { ...zlib, package: "zlib-dev 1.2.12-r1" }];
    expect(judgeScan({ status: "complete", findings: twice }, { ...GATE, maxCritical: 1 }, DAY).ok).toBe(
      true,
    );
  });

  it("lifts an allowed finding up to and including its expiry day, and counts it again the day after", () => {
    const gate = { ...GATE, allow: [{ id: zlib.id, expires: "2026-12-07", reason: "no fix upstream" }] };
    const scan: ScanState = { status: "complete", findings: [zlib] };
    expect(judgeScan(scan, gate, new Date("2026-12-07T23:59:59Z"))).toMatchObject({
      ok: true,
      allowed: [gate.allow[0]],
      detail: expect.stringContaining("allowed: CVE-2022-37434"),
    });
    const after = judgeScan(scan, gate, new Date("2026-12-08T00:00:00Z"));
    expect(after).toMatchObject({ ok: false, code: "scan.findings", expired: [gate.allow[0]] });
    expect(after.detail).toContain(
      "expired allow-list entries counted again: CVE-2022-37434 (expired 2026-12-07)",
    );
  });

  it("is closed by default: missing, failed, unsupported and unfinished scans fail, each with its own code", () => {
    for (const status of ["missing", "failed", "unsupported", "pending"] as const)
      expect(judgeScan({ status, detail: "why" }, GATE, DAY)).toMatchObject({
        ok: false,
        code: `scan.${status}`,
      });
  });

  it("opens only by allowUnscanned, and says so; findings still count", () => {
    const open = { ...GATE, allowUnscanned: true };
    expect(
      judgeScan({ status: "unsupported", detail: "ECR scan UNSUPPORTED_IMAGE" }, open, DAY),
    ).toMatchObject({
      ok: true,
      code: "scan.passed-unscanned",
      detail: "ECR scan UNSUPPORTED_IMAGE; passed because scanGate.allowUnscanned is true",
    });
    expect(judgeScan({ status: "complete", findings: [zlib] }, open, DAY).ok).toBe(false);
  });
});

describe("waitForScan", () => {
  it("waits out a scan in progress and returns its result", async () => {
    const states: ScanState[] = [
      { status: "missing", detail: "not yet" },
      { status: "pending", detail: "IN_PROGRESS" },
      { status: "complete", findings: [] },
    ];
    const clock = virtualClock();
    const got = await waitForScan(async () => states.shift()!, {
      clock,
      deadlineMs: 60_000,
      intervalMs: 5_000,
    });
    expect(got).toEqual({ status: "complete", findings: [] });
    expect(clock.slept).toEqual([5_000, 5_000]);
  });

  it("gives up at the deadline: never started is missing, never finished is pending", async () => {
    const missing = await waitForScan(async () => ({ status: "missing", detail: "no scan" }), {
      clock: virtualClock(),
      deadlineMs: 30_000,
    });
    expect(missing).toEqual({ status: "missing", detail: "no scan of this digest after 30 s (no scan)" });
    const pending = await waitForScan(async () => ({ status: "pending", detail: "SCANNING" }), {
      clock: virtualClock(),
      deadlineMs: 30_000,
    });
    expect(pending).toEqual({ status: "pending", detail: "the scan did not finish in 30 s (SCANNING)" });
  });

  it("lets an unreadable answer fail rather than read it as no findings", async () => {
    await expect(
      waitForScan(
        async () => {
          throw new Error("AccessDeniedException");
        },
        { clock: virtualClock(), deadlineMs: 30_000 },
      ),
    ).rejects.toThrow("AccessDeniedException");
  });
});

describe("the scan step's command line", () => {
  const ref = `123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/api@sha256:${"a".repeat(64)}`;
  it("round-trips every field", () => {
    const gate: ScanGate = {
      maxCritical: 0,
      maxHigh: 5,
      maxMedium: 40,
      deadlineSeconds: 900,
      allow: [{ id: "CVE-2023-0286", expires: "2027-01-31" }],
      allowUnscanned: true,
    };
    const line = encodeScanStep({ ref, gate });
    expect(line).toBe(
      `node_modules/.bin/tsx scripts/scan-gate.ts ${ref} --max-critical 0 --max-high 5 --max-medium 40 --deadline-seconds 900 --allow CVE-2023-0286:2027-01-31 --allow-unscanned`,
    );
    expect(decodeScanStep(line)).toEqual({ ref, gate });
  });

  it("names the flag that is wrong", () => {
    expect(decodeScanArgs([ref, "--deadline-seconds", "60"])).toEqual({
      problem: "--max-critical is required",
    });
    expect(decodeScanArgs([ref, "--max-critical", "-1", "--deadline-seconds", "60"])).toEqual({
      problem: "--max-critical -1: expected a whole number",
    });
    expect(
      decodeScanArgs([ref, "--max-critical", "0", "--deadline-seconds", "60", "--allow", "CVE-1"]),
    ).toEqual({
      problem: "--allow CVE-1: expected <vulnerability id>:<YYYY-MM-DD>",
    });
    expect(decodeScanArgs(["api:latest", "--max-critical", "0", "--deadline-seconds", "1"])).toEqual({
      problem: "expected one image reference pinned by digest: <repo>@sha256:<hex>",
    });
  });

  it("knows which registry scans an image, from its host", () => {
    expect(scannerOf("123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/api")).toEqual({
      registry: "ecr",
      registryId: "123456789012",
      region: "eu-west-1",
      repositoryName: "acme/api",
    });
    expect(scannerOf("europe-west1-docker.pkg.dev/acme-prod/apps/api")).toEqual({
      registry: "artifact-registry",
      project: "acme-prod",
      reference: "europe-west1-docker.pkg.dev/acme-prod/apps/api",
    });
    expect(scannerOf("ghcr.io/acme/api")).toHaveProperty("problem", expect.stringContaining("only ECR"));
  });
});

// ---- Both scanners, on push, through the real clients ----

const ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const AR_HOST = "us-central1-docker.pkg.dev";
let cloud: FakeCloud;
let ecrRegistry: LocalRegistry;
let arRegistry: LocalRegistry;
let ecr: ECRClient;
let google: HttpClient;

/** A layer (tar) holding these files. */
async function tarLayer(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, text] of Object.entries(files)) p.entry({ name }, text);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A layer holding an Alpine package database (apk's `installed`: P: name, V: version) with these packages. */
const apkLayer = (packages: Record<string, string>) =>
  tarLayer({
    "lib/apk/db/installed": Object.entries(packages)
      .map(([name, version]) => `C:Q1fake=\nP:${name}\nV:${version}\nA:x86_64\n`)
      .join("\n"),
    "etc/os-release": "ID=alpine\nVERSION_ID=3.16.2\n",
  });
/** A scratch image's layer: a static binary and nothing a scanner can read. */
const scratchLayer = () => tarLayer({ app: "\x7fELF static binary" });

const target = (r: LocalRegistry) => ({ host: r.host, username: r.username, password: r.password });
const readEcr = (repositoryName: string, digest: string) => () =>
  readEcrScan(ecr, { registryId: "123456789012", repositoryName, digest });
const readAr = (image: string, digest: string) => () =>
  readContainerAnalysisScan(
    google,
    { project: "acme-apps", reference: `${AR_HOST}/acme-apps/apps/${image}`, digest },
    cloud.url,
  );
/** Waits as the step does, on the real clock: notifications arrive asynchronously. */
const settle = (read: () => Promise<ScanState>, deadlineMs = 10_000) =>
  waitForScan(read, { clock: realClock, deadlineMs, intervalMs: 100 });

beforeAll(async () => {
  const storage = new Map<string, string>();
  cloud = await new FakeCloud({
    registryStorage: (h) => storage.get(h),
    accounts: { AKIASCAN: "123456789012", AKIAOTHER: "222222222222" },
  }).start();
  ecrRegistry = await startRegistry({
    auth: "htpasswd",
    notify: { url: cloud.registryEvents, host: ECR_HOST },
  });
  arRegistry = await startRegistry({
    auth: "htpasswd",
    notify: { url: cloud.registryEvents, host: AR_HOST },
  });
  storage.set(ECR_HOST, ecrRegistry.dataDir);
  storage.set(AR_HOST, arRegistry.dataDir);
  ecr = new ECRClient({
    region: "us-east-1",
    endpoint: cloud.url,
    credentials: { accessKeyId: "AKIASCAN", secretAccessKey: "fake" },
    maxAttempts: 1,
  });
  const res = await fetch(`${cloud.url}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=refresh_token&refresh_token=deployer@acme-apps",
  });
  const client = new OAuth2Client();
  client.setCredentials({ access_token: ((await res.json()) as { access_token: string }).access_token });
  google = client as unknown as HttpClient;
});
afterAll(async () => {
  ecrRegistry?.stop();
  arRegistry?.stop();
  await cloud?.stop();
});

describe("ECR's scan on push (DescribeImageScanFindings)", () => {
  it("reports IN_PROGRESS, then COMPLETE with the critical finding the image's packages carry", async () => {
    cloud.scans.scanMs = 1_500;
    const { digest } = await pushImage(target(ecrRegistry), "acme/api", {
      layers: [await apkLayer({ zlib: "1.2.12-r1", musl: "1.2.3-r0" })],
    });
    const seen: string[] = [];
    const state = await waitForScan(readEcr("acme/api", digest), {
      clock: realClock,
      deadlineMs: 10_000,
      intervalMs: 100,
      log: (l) => seen.push(l),
    });
    cloud.scans.reset();
    expect(seen.some((l) => l.includes("ECR scan IN_PROGRESS"))).toBe(true);
    expect(state).toEqual({
      status: "complete",
      findings: [{ id: "CVE-2022-37434", severity: "CRITICAL", package: "zlib 1.2.12-r1" }],
    });
    expect(judgeScan(state, GATE, DAY)).toMatchObject({ ok: false, code: "scan.findings" });
  });

  it("reads enhanced scanning's ACTIVE status and Inspector findings", async () => {
    cloud.scans.ecrMode.set(ECR_HOST, "enhanced");
    const { digest } = await pushImage(target(ecrRegistry), "acme/worker", {
      layers: [await apkLayer({ libcrypto3: "3.0.7-r0" })],
    });
    const state = await settle(readEcr("acme/worker", digest));
    cloud.scans.reset();
    expect(state).toEqual({
      status: "complete",
      findings: [{ id: "CVE-2023-0286", severity: "HIGH", package: "libcrypto3 3.0.7-r0" }],
    });
    expect(judgeScan(state, GATE, DAY).ok).toBe(true);
  });

  it("reports a scratch image as UNSUPPORTED_IMAGE, a failed scan as FAILED, and no scan as ScanNotFoundException", async () => {
    const scratch = await pushImage(target(ecrRegistry), "acme/scratch", { layers: [await scratchLayer()] });
    expect(await settle(readEcr("acme/scratch", scratch.digest))).toEqual({
      status: "unsupported",
      detail: "ECR scan UNSUPPORTED_IMAGE: The operating system and/or package manager are not supported.",
    });
    cloud.scans.failScans = "scan failed: the image could not be read";
    const broken = await pushImage(target(ecrRegistry), "acme/scratch", {
      layers: [await apkLayer({ zlib: "1.3.1-r0" })],
    });
    expect(await settle(readEcr("acme/scratch", broken.digest))).toEqual({
      status: "failed",
      detail: "ECR scan FAILED: scan failed: the image could not be read",
    });
    cloud.scans.reset();
    cloud.scans.notScanned.add(ECR_HOST);
    const unscanned = await pushImage(target(ecrRegistry), "acme/scratch", {
      layers: [Buffer.from("other")],
    });
    const never = await waitForScan(readEcr("acme/scratch", unscanned.digest), {
      clock: realClock,
      deadlineMs: 500,
      intervalMs: 100,
    });
    cloud.scans.reset();
    expect(never).toMatchObject({
      status: "missing",
      detail: expect.stringContaining("ECR has no scan of acme/scratch@"),
    });
    expect(judgeScan(never, GATE, DAY)).toMatchObject({ ok: false, code: "scan.missing" });
  });

  it("answers another account's deployer with IAM's denial, which the gate reports rather than reading as no scan", async () => {
    const other = new ECRClient({
      region: "us-east-1",
      endpoint: cloud.url,
      credentials: { accessKeyId: "AKIAOTHER", secretAccessKey: "fake" },
      maxAttempts: 1,
    });
    const read = () =>
      readEcrScan(other, {
        registryId: "123456789012",
        repositoryName: "acme/api",
        digest: `sha256:${"1".repeat(64)}`,
      });
    await expect(waitForScan(read, { clock: virtualClock(), deadlineMs: 60_000 })).rejects.toThrow(
      "is not authorized to perform: ecr:DescribeImageScanFindings",
    );
  });

  it("times out on a scan slower than the deadline", async () => {
    cloud.scans.scanMs = 60_000;
    const { digest } = await pushImage(target(ecrRegistry), "acme/slow", {
      layers: [await apkLayer({ zlib: "1.3.1-r0" })],
    });
    const state = await settle(readEcr("acme/slow", digest), 800);
    cloud.scans.reset();
    expect(state).toMatchObject({
      status: "pending",
      detail: expect.stringContaining("did not finish in 1 s (ECR scan IN_PROGRESS)"),
    });
    expect(judgeScan(state, GATE, DAY).code).toBe("scan.pending");
  });
});

describe("Artifact Registry's scan on push (Container Analysis)", () => {
  it("waits for the DISCOVERY occurrence to finish, then counts VULNERABILITY occurrences by effective severity", async () => {
    cloud.scans.scanMs = 1_000;
    const { digest } = await pushImage(target(arRegistry), "acme-apps/apps/api", {
      layers: [await apkLayer({ zlib: "1.2.12-r0", libcrypto3: "3.0.7-r2" })],
    });
    const seen: string[] = [];
    const state = await waitForScan(readAr("api", digest), {
      clock: realClock,
      deadlineMs: 10_000,
      intervalMs: 100,
      log: (l) => seen.push(l),
    });
    cloud.scans.reset();
    expect(seen.some((l) => l.includes("Container Analysis: SCANNING"))).toBe(true);
    expect(state).toEqual({
      status: "complete",
      findings: [
        { id: "CVE-2022-37434", severity: "CRITICAL", package: "zlib 1.2.12-r0" },
        { id: "CVE-2023-0286", severity: "HIGH", package: "libcrypto3 3.0.7-r2" },
      ],
    });
    const allowed = {
      ...GATE,
      allow: [{ id: "CVE-2022-37434", expires: "2027-01-31", reason: "not reachable" }],
    };
    expect(judgeScan(state, allowed, DAY)).toMatchObject({ ok: true, code: "scan.passed" });
  });

  it("reads FINISHED_UNSUPPORTED, FINISHED_FAILED and no discovery at all", async () => {
    const scratch = await pushImage(target(arRegistry), "acme-apps/apps/scratch", {
      layers: [await scratchLayer()],
    });
    expect(await settle(readAr("scratch", scratch.digest))).toEqual({
      status: "unsupported",
      detail: "Container Analysis: FINISHED_UNSUPPORTED",
    });
    cloud.scans.failScans = "internal scanner error";
    const broken = await pushImage(target(arRegistry), "acme-apps/apps/scratch", {
      layers: [Buffer.from("b")],
    });
    expect(await settle(readAr("scratch", broken.digest))).toEqual({
      status: "failed",
      detail: "Container Analysis: FINISHED_FAILED: internal scanner error",
    });
    cloud.scans.reset();
    const stranger = new OAuth2Client();
    stranger.setCredentials({ access_token: await cloud.googleAccessToken("deployer@acme-other") });
    await expect(
      readContainerAnalysisScan(
        stranger as unknown as HttpClient,
        { project: "acme-apps", reference: `${AR_HOST}/acme-apps/apps/scratch`, digest: scratch.digest },
        cloud.url,
      ),
    ).rejects.toThrow(
      "Permission 'containeranalysis.occurrences.list' denied on resource 'projects/acme-apps'",
    );
    const nothing = await readAr("scratch", `sha256:${"0".repeat(64)}`)();
    expect(nothing).toMatchObject({
      status: "missing",
      detail: expect.stringContaining("no discovery of https://us-central1-docker.pkg.dev/"),
    });
  });
});
