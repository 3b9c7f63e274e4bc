/**
 * The whole program on the real engine: the repository's Pulumi.yaml with the harness's copies of
 * Pulumi.staging.yaml and Pulumi.prod.yaml (env.ts harnessStackFile: FROM scratch build contexts, a
 * 2 s grant wait, the file backend's stack name), deployed as a team does, one step after another:
 *
 * 1. staging `pulumi up`: both images built by BuildKit for their platforms, pushed by digest to
 *    Artifact Registry (`us-central1-docker.pkg.dev`) and staging's ECR host, verified by the real
 *    verify-image with its `gcp` and `ecr` logins, tagged, then released;
 * 2. prod `pulumi up`: staging's `images` read through a real StackReference on the file backend, each
 *    digest copied by the real promote-image into prod's own registries (another project, another
 *    ECR host, prod's own credentials), verified there and deployed; nothing built;
 * 3. a second commit released on both; prod rolled back with docs/operations.md's own commands;
 * 4. a failed gate that leaves traffic where it was; same-commit re-runs with `--expect-no-changes`;
 *    `pulumi destroy` of prod, refused at its Cloud Run service and registries, and of staging;
 * 5. `pulumi preview` of synthetic stacks of 5 and 50 services: the engine's cost per resource.
 *
 * The gcp and aws plugins are stand-ins (tests/e2e/standins/cloud.ts); everything the program itself
 * touches is real: registry hosts, logins, copies, the StackReference, the CLI commands
 * (tests/e2e/cloud-env.ts says how the host names reach loopback, and only inside the test).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, parseDocument, stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticConfig } from "../../bench/analysis";
import { pkixKeyId } from "../../lib/binauthz/payload";
import { lambdaFunctionName } from "../../lib/names";
import { stackIdentity, startCloud, type CloudEnvironment, type StackIdentity } from "./cloud-env";
import {
  FIXTURES,
  harnessStackFile,
  recordTimings,
  REPO,
  startEnvironment,
  type CliResult,
  type E2eEnvironment,
} from "./env";

/** Three commits, as `git rev-parse HEAD` gives them (Pulumi Deployments sets GITHUB_SHA). */
const C1 = "3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f40";
const C2 = "8e7f6a5b4c3d2e1f0a9b8c7d6e5f403f2a6c1d9b";
const C3 = "c3d2e1f0a9b8c7d6e5f403f2a6c1d9b8e7f6a5b4";
/** A commit whose images carry a critical vulnerability (CVE-2022-37434 in zlib 1.2.12-r1). */
const C4 = "4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";
const C5 = "5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081";
const SCALES = [5, 50] as const;

const staging = stackIdentity("acme-apps-staging", "123456789012", "111111111111");
const prod = stackIdentity("acme-apps-prod", "210987654321", "222222222222");
const STACKS: Record<string, StackIdentity> = {
  staging,
  prod,
  // The synthetic stacks deploy as staging does.
  ...Object.fromEntries(SCALES.map((n) => [`scale${n}`, staging])),
};
const cloudRun = (id: StackIdentity) => `projects/${id.gcpProject}/locations/us-central1/services/api`;
const worker = (stack: string) => lambdaFunctionName("multicloud-deploy", stack, "worker");

let e: E2eEnvironment;
let c: CloudEnvironment;
const timings: Record<string, number> = {};

const text = (r: CliResult) => `${r.stdout.slice(-8000)}\n${r.stderr.slice(-8000)}`;
const ok = (r: CliResult, what: string) => {
  expect(r.code, `${what} failed:\n${text(r)}`).toBe(0);
  return r;
};
const run = (stack: string, args: string[], sha = C1) =>
  c.pulumi(["--stack", stack, ...args], { GITHUB_SHA: sha }, stack);
const up = (stack: string, sha: string, ...extra: string[]) =>
  run(stack, ["up", "--yes", "--skip-preview", ...extra], sha);
/** A re-run at the commit deployed: preview and up change nothing, and no traffic moves. Its up's ms. */
async function sameCommit(stack: string): Promise<number> {
  const before = c.cloud.history.length;
  ok(await run(stack, ["preview", "--expect-no-changes"]), `${stack} preview --expect-no-changes`);
  const r = ok(await up(stack, C1, "--expect-no-changes"), `${stack} up --expect-no-changes`);
  expect(c.cloud.history.length).toBe(before);
  return r.ms;
}
const pack = () => [
  "--policy-pack",
  e.policyPack,
  "--policy-pack-config",
  path.join(REPO, "policy/config.staging.json"),
];

interface Image {
  repositoryUrl: string;
  digest: string;
  tag: string;
  commitSha: string;
}
const images = async (stack: string) =>
  JSON.parse(ok(await run(stack, ["stack", "output", "images", "--json"]), "stack output").stdout) as Record<
    "api" | "worker",
    Image
  >;
const exported = async (stack: string) =>
  JSON.parse(ok(await run(stack, ["stack", "export"]), "stack export").stdout) as {
    deployment: {
      resources?: {
        type: string;
        urn: string;
        inputs?: Record<string, any>;
        outputs?: Record<string, any>;
      }[];
    };
  };

/** Staging's signing keys' public halves (fake KMS), pinned in prod's stack file by beforeAll. */
const keys = { gcp: "", aws: "" };

/**
 * `cosign verify --key <pem> --insecure-ignore-tlog=true <ref>` (the real cosign, tests/e2e/toolchain.sh)
 * in the suite's namespace, logged in to the registry as `stack` (a token the fake cloud issues, as
 * `gcloud auth print-access-token` or `aws ecr get-login-password` would give), trusting the suite's CA.
 */
async function cosignVerify(stack: string, id: StackIdentity, ref: string, pem: string): Promise<CliResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-cosign-"));
  const host = ref.split("/")[0]!;
  const password = host.includes(".dkr.ecr.")
    ? c.cloud.ecrLogin(id.awsAccountId)
    : await c.cloud.googleAccessToken(id.gcpDeployer);
  const username = host.includes(".dkr.ecr.") ? "AWS" : "oauth2accesstoken";
  fs.writeFileSync(
    path.join(dir, "config.json"),
    JSON.stringify({
      auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString("base64") } },
    }),
  );
  fs.writeFileSync(path.join(dir, "key.pem"), pem);
  const cosign = path.join(e.toolchain, "bin/cosign");
  return c.bash(`"${cosign}" verify --key "${dir}/key.pem" --insecure-ignore-tlog=true "${ref}"`, stack, {
    DOCKER_CONFIG: dir,
  });
}

/** The repository's directory in its registry's storage (distribution's filesystem layout). */
function repositoryDir(repositoryUrl: string): { v2: string; manifests: string } {
  const [host, ...rest] = repositoryUrl.split("/");
  const registry = c.registries.get(host!);
  if (!registry) throw new Error(`no registry serves ${host}`);
  const v2 = path.join(registry.dataDir, "docker/registry/v2");
  return { v2, manifests: path.join(v2, "repositories", rest.join("/"), "_manifests") };
}
const sigTag = (digest: string) => `sha256-${digest.slice("sha256:".length)}.sig`;
const hasTag = (repositoryUrl: string, tag: string) =>
  fs.existsSync(path.join(repositoryDir(repositoryUrl).manifests, "tags", tag, "current/link"));

/**
 * An image put into a repository outside the program: `digest`'s manifest with an annotation `mark`,
 * written into the registry's storage as distribution lays out a pushed manifest. Its new digest.
 */
function pushByHand(repositoryUrl: string, digest: string, mark: string): string {
  const { v2, manifests } = repositoryDir(repositoryUrl);
  const blob = (d: string) => path.join(v2, "blobs/sha256", d.slice(7, 9), d.slice(7), "data");
  const manifest = JSON.parse(fs.readFileSync(blob(digest), "utf8"));
  const bytes = Buffer.from(
    JSON.stringify({ ...manifest, annotations: { "example.com/pushed-by-hand": mark } }),
  );
  const made = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  fs.mkdirSync(path.dirname(blob(made)), { recursive: true });
  fs.writeFileSync(blob(made), bytes);
  const link = path.join(manifests, "revisions/sha256", made.slice(7), "link");
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.writeFileSync(link, made);
  return made;
}

/** Points tag `to` at what tag `from` names, as a copy of that manifest by hand would. */
function copyTag(repositoryUrl: string, from: string, to: string): void {
  const { manifests } = repositoryDir(repositoryUrl);
  const digest = fs.readFileSync(path.join(manifests, "tags", from, "current/link"), "utf8").trim();
  for (const file of ["current/link", `index/sha256/${digest.slice(7)}/link`]) {
    fs.mkdirSync(path.dirname(path.join(manifests, "tags", to, file)), { recursive: true });
    fs.writeFileSync(path.join(manifests, "tags", to, file), digest);
  }
}

/**
 * Runs `body` while staging's exported `images` output names `digest` for `service` (an edited stack
 * export, `pulumi stack import`), then puts the export back as it was.
 */
async function withStagingImage(
  service: "api" | "worker",
  digest: string,
  body: () => Promise<void>,
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-export-"));
  const original = path.join(dir, "original.json");
  ok(await run("staging", ["stack", "export", "--file", original]), "stack export");
  const doc = JSON.parse(fs.readFileSync(original, "utf8"));
  const root = doc.deployment.resources.find((r: { type: string }) => r.type === "pulumi:pulumi:Stack");
  root.outputs.images[service].digest = digest;
  fs.writeFileSync(path.join(dir, "edited.json"), JSON.stringify(doc));
  ok(
    await run("staging", ["stack", "import", "--file", path.join(dir, "edited.json")]),
    "stack import (edited)",
  );
  try {
    await body();
  } finally {
    ok(await run("staging", ["stack", "import", "--file", original]), "stack import (original)");
  }
}

/** What the registry serving `repositoryUrl` stores (distribution's filesystem layout), read on disk. */
function stored(repositoryUrl: string, digest: string) {
  const [host, ...rest] = repositoryUrl.split("/");
  const registry = c.registries.get(host!);
  if (!registry) throw new Error(`no registry serves ${host}`);
  const v2 = path.join(registry.dataDir, "docker/registry/v2");
  const manifests = path.join(v2, "repositories", rest.join("/"), "_manifests");
  const hex = digest.replace(/^sha256:/, "");
  const tagsDir = path.join(manifests, "tags");
  const tags = fs.existsSync(tagsDir)
    ? fs
        .readdirSync(tagsDir)
        .filter((t) => fs.readFileSync(path.join(tagsDir, t, "current/link"), "utf8").trim() === digest)
    : [];
  const blob = path.join(v2, "blobs/sha256", hex.slice(0, 2), hex, "data");
  return {
    manifest: fs.existsSync(path.join(manifests, "revisions/sha256", hex, "link")),
    tags,
    bytes: fs.existsSync(blob) ? fs.readFileSync(blob) : undefined,
  };
}

const liveRevision = (id: StackIdentity) => {
  const traffic = c.cloud.services.get(cloudRun(id))!.traffic.filter((t) => t.percent > 0);
  expect(traffic.map((t) => t.percent)).toEqual([100]);
  return traffic[0]!.revision!;
};
const liveVersion = (stack: string) => {
  const alias = c.cloud.functions.get(worker(stack))!.aliases.live!;
  expect(Object.keys(alias.RoutingConfig?.AdditionalVersionWeights ?? {})).toEqual([]);
  return alias.FunctionVersion;
};

/**
 * The share of an update's wall time some resources' steps took, from the engine's event log (one
 * JSON event per line; `timestamp` in whole seconds): the union of each step's [pre, outputs] span.
 */
function stepShare(eventLog: string, match: (urn: string) => boolean): { share: number; seconds: number } {
  const events = fs
    .readFileSync(eventLog, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
  const times = events.map((ev) => ev.timestamp as number);
  const total = Math.max(1, Math.max(...times) - Math.min(...times));
  const starts = new Map<string, number>();
  const spans: [number, number][] = [];
  for (const ev of events) {
    const pre = ev.resourcePreEvent?.metadata;
    const out = ev.resOutputsEvent?.metadata;
    if (pre && match(pre.urn)) starts.set(pre.urn, ev.timestamp);
    if (out && match(out.urn) && starts.has(out.urn)) spans.push([starts.get(out.urn)!, ev.timestamp + 1]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let end = -Infinity;
  for (const [s, t] of spans) {
    covered += Math.max(0, t - Math.max(s, end));
    end = Math.max(end, t);
  }
  return { share: Math.min(1, covered / total), seconds: total };
}

/** `pulumi up` that also writes the engine's event log, for stepShare. */
async function upWithEventLog(stack: string, sha: string): Promise<{ r: CliResult; log: string }> {
  const log = path.join(e.programDir, `${stack}-up.events.jsonl`);
  // The event log is a debug flag of the CLI (up.go: only with PULUMI_DEBUG_COMMANDS).
  const r = ok(
    await c.pulumi(
      ["--stack", stack, "up", "--yes", "--skip-preview", "--event-log", log],
      { GITHUB_SHA: sha, PULUMI_DEBUG_COMMANDS: "true" },
      stack,
    ),
    `${stack} up`,
  );
  return { r, log };
}

beforeAll(async () => {
  e = await startEnvironment();
  for (const n of SCALES) {
    fs.writeFileSync(
      path.join(e.programDir, `Pulumi.scale${n}.yaml`),
      harnessStackFile(toYaml({ config: syntheticConfig(n) })),
    );
  }
  c = await startCloud(e, { dir: e.programDir, stacks: STACKS, services: ["api"], registries: true });
  // A registry's scan is not instant: each push is "in progress" for 2 s before its result.
  c.cloud.scans.scanMs = 2_000;
  // Staging's signing keys, under the names its stack file gives, usable by staging's deployer only;
  // prod's stack file then pins their public keys, as a team copies them in (docs/signing.md).
  const signing = parseYaml(fs.readFileSync(path.join(e.programDir, "Pulumi.staging.yaml"), "utf8")).config[
    "multicloud-deploy:signing"
  ] as { gcpKmsKey: string; awsKmsKey: string };
  keys.gcp = c.cloud.kms.addGoogleKey(signing.gcpKmsKey, [staging.gcpDeployer]).publicKeyPem;
  keys.aws = c.cloud.kms.addAwsKey(staging.awsAccountId, "us-east-1", signing.awsKmsKey).publicKeyPem;
  // (Written into the harness's copy of the file: `pulumi config set` takes a value that starts with
  // "-----" for a flag.)
  const prodFile = path.join(e.programDir, "Pulumi.prod.yaml");
  const doc = parseDocument(fs.readFileSync(prodFile, "utf8"));
  doc.setIn(["config", "multicloud-deploy:signatureKeys"], { gcp: keys.gcp, aws: keys.aws });
  fs.writeFileSync(prodFile, doc.toString());
}, 40 * 60_000);

afterAll(async () => {
  try {
    await c?.stop();
  } finally {
    e?.stop();
    recordTimings("e2e", timings);
  }
});

describe("the staging and prod stacks on the real engine", () => {
  let first: { staging: Record<"api" | "worker", Image>; revision: string; prodCheckpoint: string };
  let second: Record<"api" | "worker", Image>;

  it("staging previews every resource of both clouds, and the policy pack passes it", async () => {
    const r = await run("staging", ["preview", "--diff", ...pack()]);
    fs.writeFileSync(path.join(REPO, "bench/e2e-staging-preview.txt"), r.stdout);
    ok(r, "staging preview");
    // `--diff` lists the packs that ran; a violation would fail the preview and be listed with it.
    expect(r.stdout).toMatch(/Policy Packs run:\s+Name\s+Version\s+multicloud-deploy\|local\|\S+\s+0\.1\.0/);
    expect(text(r)).not.toMatch(/mandatory|advisory/);
    expect(r.stdout).toMatch(/Resources:\s+\+ \d+ to create/);
    for (const type of [
      "gcp:artifactregistry/repository:Repository",
      "gcp:cloudrunv2/service:Service",
      "aws:ecr/repository:Repository",
      "aws:lambda/function:Function",
      "docker-build:index:Image",
      "command:local:Command",
    ]) {
      expect(r.stdout, type).toContain(`+ ${type}: (create)`);
    }
    // Names carry the stack, and the ECR pull policy its partition and account.
    expect(r.stdout).toMatch(/\bname\s+: "multicloud-deploy-staging-worker"/);
    expect(r.stdout).toContain("arn:aws:lambda:us-east-1:111111111111:function:*");
  });

  it("prod refuses to promote from a staging stack that has deployed nothing, naming the stack and output", async () => {
    const r = await run("prod", ["preview"]);
    fs.writeFileSync(path.join(REPO, "bench/e2e-prod-preview.txt"), text(r));
    expect(r.code).not.toBe(0);
    expect(text(r)).toContain("organization/multicloud-deploy/staging");
    expect(text(r)).toMatch(/has no output "images"/);
  });

  it("staging up: builds both images for their platforms, pushes them by digest to its registries, verifies, tags and releases them", async () => {
    const { r, log } = await upWithEventLog("staging", C1);
    timings.stagingUpColdMs = r.ms;
    // What signing and the scan gate take of the update's own wall time (bench/README.md).
    timings.stagingSignShare = Number(
      stepShare(log, (urn) => /::(api|worker)-sign$/.test(urn)).share.toFixed(3),
    );
    timings.stagingScanShare = Number(
      stepShare(log, (urn) => /::(api|worker)-scan$/.test(urn)).share.toFixed(3),
    );
    // Each sign step's own KMS and registry work (its stdout), to the millisecond: the two run side by
    // side, so the longer one is what signing adds to the update.
    const signMs = (await exported("staging")).deployment
      .resources!.filter((res) => /::(api|worker)-sign$/.test(res.urn))
      .map((res) => JSON.parse(String(res.outputs!.stdout)).ms as number);
    expect(signMs).toHaveLength(2);
    timings.stagingSignMs = Math.max(...signMs);
    timings.stagingSignRatio = Number((timings.stagingSignMs / r.ms).toFixed(3));
    const out = await images("staging");
    expect(out.api.repositoryUrl).toBe("us-central1-docker.pkg.dev/acme-apps-staging/apps/api");
    expect(out.worker.repositoryUrl).toBe(
      "111111111111.dkr.ecr.us-east-1.amazonaws.com/multicloud-deploy-staging/worker",
    );
    for (const img of Object.values(out)) {
      expect(img.commitSha).toBe(C1);
      const s = stored(img.repositoryUrl, img.digest);
      // Pushed by digest, and tagged (by the verify step, after verification) with the commit's tag only.
      expect(s.manifest, img.repositoryUrl).toBe(true);
      expect(s.tags).toEqual([img.tag]);
      expect(img.tag).toContain(C1.slice(0, 12));
    }
    // One platform each, from the stack file: the Lambda image is arm64, the Cloud Run one amd64.
    const manifest = (img: Image) =>
      JSON.parse(stored(img.repositoryUrl, img.digest).bytes!.toString("utf8"));
    const platformOf = (img: Image) => {
      const config = manifest(img).config.digest as string;
      return JSON.parse(stored(img.repositoryUrl, config).bytes!.toString("utf8")).architecture;
    };
    expect([platformOf(out.api), platformOf(out.worker)]).toEqual(["amd64", "arm64"]);
    expect(manifest(out.api).mediaType).toMatch(/manifest\.v1\+json$/);
    // The registries were reached with each stack's own tokens: the fake cloud issued them.
    expect(c.registries.get("us-central1-docker.pkg.dev")!.tokensIssued()).toBeGreaterThan(0);
    expect(c.registries.get("111111111111.dkr.ecr.us-east-1.amazonaws.com")!.tokensIssued()).toBeGreaterThan(
      0,
    );
    // Signed after verification, in cosign's format beside each image, by KMS calls of staging's own
    // identity (prod's deployer may not use the keys: tests/signing/signing.test.ts).
    for (const img of Object.values(out))
      expect(hasTag(img.repositoryUrl, sigTag(img.digest)), img.repositoryUrl).toBe(true);
    const signs = c.cloud.kms.calls.filter((k) => k.op === "asymmetricSign" || k.op === "Sign");
    expect(signs.map((k) => [k.op, k.caller])).toEqual(
      expect.arrayContaining([
        ["asymmetricSign", staging.gcpDeployer],
        ["Sign", staging.awsAccountId],
      ]),
    );
    // The api's key signs twice: cosign's payload and Binary Authorization's (docs/signing.md).
    expect(signs.map((k) => k.op).sort()).toEqual(["Sign", "asymmetricSign", "asymmetricSign"]);
    // Released: each new revision or version gated alone, then all traffic.
    const revision = liveRevision(staging);
    expect(c.cloud.healthChecks).toContain(revision);
    expect(liveVersion("staging")).toBe("1");
    first = { staging: out, revision, prodCheckpoint: "" };
  });

  it("the real cosign verifies what staging signed, with the public keys prod pins, and refuses another key", async () => {
    for (const [name, cloud] of [
      ["api", "gcp"],
      ["worker", "aws"],
    ] as const) {
      const img = first.staging[name];
      const r = ok(
        await cosignVerify("staging", staging, `${img.repositoryUrl}@${img.digest}`, keys[cloud]),
        `cosign verify ${name}`,
      );
      expect(text(r)).toContain("The signatures were verified against the specified public key");
      expect(r.stdout).toContain(`"docker-manifest-digest":"${img.digest}"`);
      expect(r.stdout).toContain(`"commit":"${C1}"`);
    }
    const wrong = await cosignVerify(
      "staging",
      staging,
      `${first.staging.api.repositoryUrl}@${first.staging.api.digest}`,
      keys.aws,
    );
    expect(wrong.code).not.toBe(0);
    expect(text(wrong)).toContain("no matching signatures");
  });

  it("the product accepts what the real cosign signs in its legacy format, and refuses cosign's default bundle format, saying so", async () => {
    const api = first.staging.api;
    const host = api.repositoryUrl.split("/")[0]!;
    // Two images put into staging's registry by hand: cosign signs them, not the program.
    const legacy = pushByHand(api.repositoryUrl, api.digest, "cosign-legacy");
    const bundle = pushByHand(api.repositoryUrl, api.digest, "cosign-bundle");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-cosign-sign-"));
    const password = await c.cloud.googleAccessToken(staging.gcpDeployer);
    fs.writeFileSync(
      path.join(dir, "config.json"),
      JSON.stringify({
        auths: { [host]: { auth: Buffer.from(`oauth2accesstoken:${password}`).toString("base64") } },
      }),
    );
    const cosign = `"${path.join(e.toolchain, "bin/cosign")}"`;
    const env = { DOCKER_CONFIG: dir, COSIGN_PASSWORD: "" };
    ok(
      await c.bash(`cd "${dir}" && ${cosign} generate-key-pair`, "staging", env),
      "cosign generate-key-pair",
    );
    // Offline, without a transparency log: the flags docs/signing.md gives for the legacy format.
    const offline = "--tlog-upload=false --use-signing-config=false -y";
    const claims = `-a commit=${C1} -a stack=staging`;
    ok(
      await c.bash(
        `${cosign} sign --key "${dir}/cosign.key" --new-bundle-format=false ${offline} ${claims} "${api.repositoryUrl}@${legacy}"`,
        "staging",
        env,
      ),
      "cosign sign (legacy format)",
    );
    ok(
      await c.bash(
        `${cosign} sign --key "${dir}/cosign.key" --new-bundle-format=true ${offline} ${claims} "${api.repositoryUrl}@${bundle}"`,
        "staging",
        env,
      ),
      "cosign sign (bundle format)",
    );
    // The product's own verifier (lib/signing/verify.ts), as promote-image and the release step run it.
    fs.writeFileSync(
      path.join(dir, "check.ts"),
      [
        `import * as fs from "node:fs";`,
        `import { RegistryClient } from "${REPO}/lib/registry/client";`,
        `import { verifySignature } from "${REPO}/lib/signing/verify";`,
        `import { registryAccess } from "${REPO}/scripts/cli";`,
        `const [repo, digest, pem, commit] = process.argv.slice(2) as [string, string, string, string];`,
        `const host = repo.slice(0, repo.indexOf("/"));`,
        `registryAccess(process.env).then(async (access) => {`,
        `  const r = await verifySignature({ client: new RegistryClient(host, access), repository: repo.slice(host.length + 1), digest,`,
        `    publicKeyPem: fs.readFileSync(pem, "utf8"), commit, stack: "staging", reference: repo });`,
        `  console.log(JSON.stringify(r.ok ? { ok: true, claims: r.claims } : r));`,
        `});`,
      ].join("\n"),
    );
    const check = async (digest: string) => {
      const r = ok(
        await c.bash(
          `node_modules/.bin/tsx "${dir}/check.ts" ${api.repositoryUrl} ${digest} "${dir}/cosign.pub" ${C1}`,
          "staging",
          { REGISTRY_LOGIN: '{"kind":"gcp"}' },
        ),
        "the product's check",
      );
      return JSON.parse(r.stdout.trim().split("\n").pop()!);
    };
    expect(await check(legacy)).toMatchObject({ ok: true, claims: { commit: C1, stack: "staging" } });
    const refused = await check(bundle);
    expect(refused).toMatchObject({ ok: false, check: "format" });
    expect(refused.problem).toContain(
      "carries a Sigstore bundle (cosign v3's default format, an OCI referrer)",
    );
  });

  it("staging at the same commit has nothing to do: preview and up pass --expect-no-changes", async () => {
    timings.stagingUpNoChangeMs = await sameCommit("staging");
  });

  it("pulumi up --refresh=false is refused before anything is registered; a preview without refresh warns", async () => {
    const resources = async () =>
      // Plain text: each export encrypts the secrets again, with a fresh nonce.
      (
        JSON.parse(
          ok(await run("staging", ["stack", "export", "--show-secrets"]), "stack export").stdout,
        ) as {
          deployment: { resources: unknown[] };
        }
      ).deployment.resources;
    const before = { history: c.cloud.history.length, resources: await resources() };
    const r = await up("staging", C1, "--refresh=false");
    expect(r.code).not.toBe(0);
    expect(text(r)).toContain(
      "pulumi up --refresh=false skips refresh: each Cloud Run service would be sent back the traffic its state remembers",
    );
    expect(text(r)).toContain("Run it without --refresh=false (Pulumi.yaml sets options.refresh: always)");
    const p = ok(await run("staging", ["preview", "--refresh=false"]), "preview --refresh=false");
    expect(text(p)).toContain(
      "pulumi preview --refresh=false skips refresh: this diff is against the state's memory",
    );
    expect(c.cloud.history.length).toBe(before.history);
    expect(await resources()).toEqual(before.resources);
  });

  it("prod up: copies staging's verified digests into its own registries through the StackReference, verifies and deploys them, and builds nothing", async () => {
    const { r, log } = await upWithEventLog("prod", C1);
    timings.prodUpColdMs = r.ms;
    const copyVerify = stepShare(log, (urn) => /::(api|worker)-(promote|verify)$/.test(urn));
    timings.prodCopyVerifyShare = Number(copyVerify.share.toFixed(2));
    // The promote steps check staging's signature at both ends; the scan waits for prod's own copy.
    timings.prodPromoteShare = Number(
      stepShare(log, (urn) => /::(api|worker)-promote$/.test(urn)).share.toFixed(3),
    );
    timings.prodScanShare = Number(
      stepShare(log, (urn) => /::(api|worker)-scan$/.test(urn)).share.toFixed(3),
    );
    // Binary Authorization: the attestation of the api's copy (validate, then write): the step's span,
    // and its own registry and API work (its stdout), to the millisecond.
    timings.prodAttestShare = Number(stepShare(log, (urn) => /::api-attest$/.test(urn)).share.toFixed(3));
    const attest = (await exported("prod")).deployment.resources!.find((res) =>
      /::api-attest$/.test(res.urn),
    )!;
    const attested = JSON.parse(String(attest.outputs!.stdout)) as { outcome: string; ms: number };
    expect(attested.outcome).toBe("created");
    timings.prodAttestMs = attested.ms;
    timings.prodAttestRatio = Number((attested.ms / r.ms).toFixed(3));
    const out = await images("prod");
    expect(out.api.repositoryUrl).toBe("us-central1-docker.pkg.dev/acme-apps-prod/apps/api");
    expect(out.worker.repositoryUrl).toBe(
      "222222222222.dkr.ecr.us-east-1.amazonaws.com/multicloud-deploy-prod/worker",
    );
    for (const name of ["api", "worker"] as const) {
      const [from, to] = [first.staging[name], out[name]];
      expect(to.digest).toBe(from.digest);
      expect(to.commitSha).toBe(C1);
      // Byte-identical: prod's registry holds the same manifest bytes staging's does, and is tagged.
      const s = stored(to.repositoryUrl, to.digest);
      expect(s.bytes!.equals(stored(from.repositoryUrl, from.digest).bytes!)).toBe(true);
      expect(s.tags).toEqual([to.tag]);
    }
    // The signature came along: the real cosign verifies prod's own copy, read as prod.
    for (const [name, cloud] of [
      ["api", "gcp"],
      ["worker", "aws"],
    ] as const) {
      ok(
        await cosignVerify("prod", prod, `${out[name].repositoryUrl}@${out[name].digest}`, keys[cloud]),
        `cosign verify prod ${name}`,
      );
    }
    // Nothing built: no docker-build resource in prod, and staging's registries were only read.
    const types = (await exported("prod")).deployment.resources!.map((res) => res.type);
    expect(types).not.toContain("docker-build:index:Image");
    expect(types).toContain("pulumi:pulumi:StackReference");
    liveRevision(prod);
    expect(liveVersion("prod")).toBe("1");
    // The file backend's copy of the state after this update (what a rollback reads, docs/operations.md).
    const history = path.join(
      e.env.PULUMI_BACKEND_URL!.replace(/^file:\/\//, ""),
      ".pulumi/history/multicloud-deploy/prod",
    );
    first.prodCheckpoint = fs
      .readdirSync(history)
      .filter((f) => f.endsWith(".checkpoint.json"))
      .sort()
      .at(-1)!;
  });

  it("prod at the same commit has nothing to do: preview and up pass --expect-no-changes", async () => {
    timings.prodUpNoChangeMs = await sameCommit("prod");
  });

  it("Binary Authorization: prod attested its Cloud Run image with staging's signed payload, and once the project's policy requires the attestor, Cloud Run refuses a revision deployed by hand whose image nothing attested", async () => {
    const out = await images("prod");
    const binauthz = c.cloud.binauthz;
    const attestor = "projects/acme-apps-prod/attestors/multicloud-deploy";
    // The attestor prod made trusts staging's key, under the id the attestation names.
    const made = binauthz.attestors.get(attestor)!;
    expect(made.userOwnedGrafeasNote.publicKeys.map((k) => k.id)).toEqual([pkixKeyId(keys.gcp)]);
    expect(made.userOwnedGrafeasNote.noteReference).toBe("projects/acme-apps-prod/notes/multicloud-deploy");
    // One attestation of prod's own copy, validated before it was written (a re-run that finds it keeps
    // it: tests/binauthz/binauthz.test.ts).
    const image = `${out.api.repositoryUrl}@${out.api.digest}`;
    const attestations = binauthz.occurrencesOf(prod.gcpProject, `https://${image}`);
    expect(attestations).toHaveLength(1);
    const ops = binauthz.calls.map((x) => x.op);
    expect(ops.indexOf("attestors.validateAttestationOccurrence")).toBeLessThan(
      ops.indexOf("occurrences.create"),
    );
    // Its payload is the one staging signed, naming staging's repository: only the digest binds it.
    const payload = JSON.parse(
      Buffer.from(attestations[0]!.attestation.serializedPayload, "base64").toString("utf8"),
    );
    expect(payload.critical).toEqual({
      identity: { "docker-reference": first.staging.api.repositoryUrl },
      image: { "docker-manifest-digest": out.api.digest },
      type: "Google cloud binauthz container signature",
    });
    // The platform team sets the project's policy once (docs/signing.md gives the commands).
    const policy = await fetch(`${c.cloud.url}/v1/projects/${prod.gcpProject}/policy`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        globalPolicyEvaluationMode: "ENABLE",
        defaultAdmissionRule: {
          evaluationMode: "REQUIRE_ATTESTATION",
          enforcementMode: "ENFORCED_BLOCK_AND_AUDIT_LOG",
          requireAttestationsBy: [attestor],
        },
      }),
    });
    expect(policy.status).toBe(200);
    // `gcloud run deploy` by hand: a PATCH of the service with a new template. An image nothing
    // attested is refused by Cloud Run itself, whoever sends it; so is one by tag.
    const service = `projects/${prod.gcpProject}/locations/us-central1/services/api`;
    const revisions = c.cloud.services.get(service)!.revisions.length;
    const traffic = c.cloud.services.get(service)!.traffic;
    for (const unattested of [
      `${out.api.repositoryUrl}@sha256:${createHash("sha256").update("pushed by hand").digest("hex")}`,
      `${out.api.repositoryUrl}:${out.api.tag}`,
    ]) {
      const r = await fetch(`${c.cloud.url}/v2/${service}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ template: { containers: [{ image: unattested }] } }),
      });
      expect(r.status, unattested).toBe(400);
      expect(((await r.json()) as { error: { message: string } }).error.message).toContain(
        `denied by Binary Authorization default admission rule`,
      );
    }
    // Refused before anything was made: no revision, and traffic where it was.
    expect(c.cloud.services.get(service)!.revisions.length).toBe(revisions);
    expect(c.cloud.services.get(service)!.traffic).toEqual(traffic);
  });

  it("a second commit: staging builds and releases it, prod promotes and releases the same digests", async () => {
    const s = ok(await up("staging", C2), "staging up at the second commit");
    timings.stagingUpWarmMs = s.ms;
    second = await images("staging");
    expect(second.api.digest).not.toBe(first.staging.api.digest);
    expect(liveRevision(staging)).not.toBe(first.revision);
    expect(liveVersion("staging")).toBe("2");
    const p = ok(await up("prod", C2), "prod up at the second commit");
    timings.prodUpWarmMs = p.ms;
    const out = await images("prod");
    expect([out.api.digest, out.worker.digest]).toEqual([second.api.digest, second.worker.digest]);
    expect(liveVersion("prod")).toBe("2");
    // Under the policy set above, Cloud Run admitted the new revision: prod attested it first, and its
    // attest step read that the policy enforces this attestor.
    const attest = (await exported("prod")).deployment.resources!.find((res) =>
      /::api-attest$/.test(res.urn),
    )!;
    expect(JSON.parse(String(attest.outputs!.stdout))).toMatchObject({
      outcome: "created",
      policy: "enforced",
    });
    expect(
      c.cloud.binauthz.occurrencesOf(prod.gcpProject, `https://${out.api.repositoryUrl}@${out.api.digest}`),
    ).toHaveLength(1);
    // The first commit's images are still in prod's registries, tagged: what a rollback needs.
    expect(stored(out.api.repositoryUrl, first.staging.api.digest).tags).toEqual([first.staging.api.tag]);
  });

  it("an approved update plan: prod applies exactly what its preview saved; a plan made stale by staging moving or by a config change is refused and prod does not change", async () => {
    const planFile = (name: string) => path.join(os.tmpdir(), `mcd-prod-${name}-${process.pid}.json`);
    // What prod runs: every resource but the StackReference (the refresh before a refused update reads
    // staging's outputs again) and the providers, in one order, with what the clouds last reported.
    const prodState = async () =>
      (await exported("prod")).deployment
        .resources!.filter(
          (res) => res.type !== "pulumi:pulumi:StackReference" && !res.type.startsWith("pulumi:providers:"),
        )
        .map((res) => [res.urn, JSON.stringify(res.outputs)])
        .sort(([a], [b]) => String(a).localeCompare(String(b)));
    const live = () => [liveRevision(prod), liveVersion("prod")];
    // 1. The reviewed path: preview saves the plan, up applies that file at the same commit.
    const saved = planFile("approved");
    const p = ok(await run("prod", ["preview", "--save-plan", saved], C2), "prod preview --save-plan");
    expect(text(p)).toContain(`Update plan written to '${saved}'`);
    ok(await run("prod", ["up", "--yes", "--skip-preview", "--plan", saved], C2), "prod up --plan");
    expect(liveVersion("prod")).toBe("2");

    // 2. Staging moves after prod's plan was saved: the plan no longer matches what prod would do.
    const beforeMove = planFile("before-staging-moved");
    ok(await run("prod", ["preview", "--save-plan", beforeMove], C2), "prod preview --save-plan (2)");
    const prodBefore = await prodState();
    const liveBefore = live();
    const traffic = c.cloud.history.length;
    ok(await up("staging", C1), "staging moves (to the first commit)");
    try {
      const stale = await run("prod", ["up", "--yes", "--skip-preview", "--plan", beforeMove], C2);
      expect(stale.code, text(stale)).not.toBe(0);
      timings.stalePlanRefusal = stale.ms;
      // The program refuses before the engine compares anything with the plan: staging's images are
      // another commit's now, and the message says how to start again (docs/operations.md quotes it).
      expect(text(stale)).toContain(
        `output images.api.commitSha is ${C1} but this update deploys commit ${C2}: promote the commit`,
      );
      expect(text(stale)).toContain("(nothing was deployed)");
      fs.writeFileSync(path.join(REPO, "bench/e2e-stale-plan.txt"), text(stale));
      expect(await prodState()).toEqual(prodBefore);
      expect(live()).toEqual(liveBefore);
    } finally {
      ok(await up("staging", C2), "staging back at the second commit");
    }
    expect(c.cloud.history.slice(traffic).filter((h) => JSON.stringify(h).includes(prod.gcpProject))).toEqual(
      [],
    );

    // 3. A config change after the preview: the update refuses the plan it no longer matches.
    const beforeConfig = planFile("before-config");
    ok(await run("prod", ["preview", "--save-plan", beforeConfig], C2), "prod preview --save-plan (3)");
    ok(await run("prod", ["config", "set", "multicloud-deploy:nodeEnv", "production-changed"]), "config set");
    try {
      const changed = await run("prod", ["up", "--yes", "--skip-preview", "--plan", beforeConfig], C2);
      expect(changed.code, text(changed)).not.toBe(0);
      // The engine's own refusal (pkg/resource/deploy/step_generator.go): the first resource whose
      // inputs differ from the plan's, before it changes anything.
      expect(text(changed)).toMatch(
        /error: resource urn:pulumi:prod::multicloud-deploy::\S+ violates plan: /,
      );
      fs.writeFileSync(path.join(REPO, "bench/e2e-config-plan.txt"), text(changed));
      expect(await prodState()).toEqual(prodBefore);
      expect(live()).toEqual(liveBefore);
    } finally {
      ok(await run("prod", ["config", "set", "multicloud-deploy:nodeEnv", "production"]), "config restored");
    }
    ok(
      await run("prod", ["preview", "--expect-no-changes"], C2),
      "prod preview --expect-no-changes after the refusals",
    );
  });

  it("prod stops before registering anything when an image lacks staging's signature: unsigned, another key, another digest's .sig, another commit", async () => {
    const api = second.api;
    const repo = api.repositoryUrl;
    // Images put into staging's registry outside the program (on its disk, as a push by hand would).
    const byHand = (mark: string) => pushByHand(repo, api.digest, mark);
    const unsigned = byHand("unsigned");
    const otherKey = byHand("other-key");
    const copiedSig = byHand("copied-sig");
    const other =
      "projects/acme-apps-staging/locations/us-central1/keyRings/multicloud-deploy/cryptoKeys/someone-else/cryptoKeyVersions/1";
    c.cloud.kms.addGoogleKey(other, [staging.gcpDeployer]);
    ok(
      await c.bash(
        `node_modules/.bin/tsx scripts/sign-image.ts ${repo}@${otherKey} --key gcpkms://${other} --commit ${C2} --stack staging`,
        "staging",
        { REGISTRY_LOGIN: '{"kind":"gcp"}' },
      ),
      "a signature by another key",
    );
    copyTag(repo, sigTag(api.digest), sigTag(copiedSig));

    // The StackReference is read first (its outputs name what is checked); nothing else is registered.
    const registered = async () =>
      (
        JSON.parse(ok(await run("prod", ["stack", "export", "--show-secrets"]), "stack export").stdout) as {
          deployment: { resources: { type: string; urn: string; inputs?: unknown }[] };
        }
      ).deployment.resources
        .filter((r) => r.type !== "pulumi:pulumi:StackReference")
        // What was registered: each resource and its inputs. (Each refused update still refreshes
        // first, which records live outputs such as the alias's version, and rewrites bookkeeping.)
        .map(({ urn, inputs }) => ({ urn, inputs }))
        // A set: the refresh each refused update runs may write the default providers in another order
        // (seen once in CI: gcp's and aws's swapped).
        .sort((a, b) => a.urn.localeCompare(b.urn));
    const before = await registered();
    const history = c.cloud.history.length;
    for (const [digest, check] of [
      [unsigned, "unsigned"],
      [otherKey, "key"],
      [copiedSig, "digest"],
      // A real staging build, named under the other commit: its signature says C1, the export C2.
      [first.staging.api.digest, "commit"],
    ] as const) {
      await withStagingImage("api", digest, async () => {
        const r = await up("prod", C2);
        expect(r.code, check).not.toBe(0);
        expect(text(r)).toContain("refusing to promote from organization/multicloud-deploy/staging");
        expect(text(r)).toContain(`api: ${repo}@${digest} failed the "${check}" check`);
      });
    }
    expect(await registered()).toEqual(before);
    expect(c.cloud.history.length).toBe(history);
  });

  it("prod rolls back to the first commit's api with docs/operations.md's own commands", async () => {
    const doc = fs.readFileSync(path.join(REPO, "docs/operations.md"), "utf8");
    const section = doc.slice(doc.indexOf("## Rollback"), doc.indexOf("## Troubleshooting"));
    const [fromCloud, fromHistory, rollBack] = [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map(
      (m) => m[1]!,
    );
    expect([fromCloud, fromHistory, rollBack].every(Boolean), "three bash blocks under Rollback").toBe(true);
    const stackLine = "STACK=organization/multicloud-deploy/prod";
    const sub = (script: string, from: string, to: string) => {
      expect(script, `the docs' commands still say ${from}`).toContain(from);
      return script.replace(from, to);
    };
    // Pulumi Cloud's way: the file backend refuses it, as the page says.
    const cloudWay = await c.bash(sub(fromCloud!, "STACK=acme/multicloud-deploy/prod", stackLine), "prod");
    expect(cloudWay.code).not.toBe(0);
    expect(text(cloudWay)).toContain("does not provide the ability to export previous deployments");
    // The self-managed backend's way, then the rollback itself.
    const state = e.env.PULUMI_BACKEND_URL!.replace(/^file:\/\//, "");
    let script = sub(
      fromHistory!,
      "HISTORY=~/state/.pulumi/history/multicloud-deploy/prod",
      `HISTORY=${state}/.pulumi/history/multicloud-deploy/prod`,
    );
    script = sub(script, "prod-1764590000000000000.checkpoint.json", first.prodCheckpoint);
    const before = liveRevision(prod);
    const r = await c.bash(`${stackLine}\n${script}\n${rollBack}`, "prod", { GITHUB_SHA: C2 });
    expect(r.code, text(r)).toBe(0);
    expect(text(r)).toContain(`api: rolled back to ${C1}`);
    // Cloud Run runs the first commit's digest, by digest, in a new revision; the worker stays on the second.
    const resources = (await exported("prod")).deployment.resources!;
    const service = resources.find((res) => res.type === "gcp:cloudrunv2/service:Service")!;
    expect(JSON.stringify(service.inputs!.template.containers)).toContain(
      `acme-apps-prod/apps/api@${first.staging.api.digest}`,
    );
    const out = await images("prod");
    expect(out.api.digest).toBe(first.staging.api.digest);
    expect(out.worker.digest).toBe(second.worker.digest);
    expect(liveRevision(prod)).not.toBe(before);
  });

  it("a failed gate on staging leaves its traffic where it was, on both clouds", async () => {
    const revision = liveRevision(staging);
    const version = liveVersion("staging");
    c.cloud.failNew = true;
    try {
      // Both releases run, each to its own verdict, however the engine orders them (without
      // --continue-on-error it starts no new step after the first failure).
      const r = await up("staging", C3, "--continue-on-error");
      const all = r.stdout + r.stderr;
      expect(r.code, text(r)).not.toBe(0);
      // The release step's own verdicts, not any other failure: built, verified, then refused by the gate.
      expect(all).toMatch(
        new RegExp(
          `Cloud Run service api: release of api-${C3.slice(0, 7)}-[0-9a-f]{5} failed its health gate before any traffic .*traffic: 100% on ${revision}, unchanged`,
        ),
      );
      expect(all).toContain(
        `Lambda function ${worker("staging")}: release of ${Number(version) + 1} failed its health gate before any traffic`,
      );
    } finally {
      c.cloud.failNew = false;
      c.cloud.unhealthy.clear();
    }
    expect(liveRevision(staging)).toBe(revision);
    expect(liveVersion("staging")).toBe(version);
  });

  it("a critical finding stops a release on both stacks: staging's gate refuses it, an allow-list entry with an expiry lets staging take it, and prod's scan of its own copy refuses it", async () => {
    const fixture = path.join(e.programDir, FIXTURES, "hello");
    const databases = ["amd64", "arm64"].map((a) => path.join(fixture, `apk-installed-${a}`));
    const originals = databases.map((f) => fs.readFileSync(f, "utf8"));
    // The build's own bytes change: its package database names a zlib with a known critical CVE.
    databases.forEach((f, i) => fs.writeFileSync(f, originals[i]!.replace("V:1.3.1-r0", "V:1.2.12-r1")));
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    try {
      const revision = liveRevision(staging);
      const version = liveVersion("staging");
      const refused = await up("staging", C4, "--continue-on-error");
      expect(refused.code, text(refused)).not.toBe(0);
      const all = refused.stdout + refused.stderr;
      // Both clouds' scans (Container Analysis for the api, ECR for the worker), each naming the finding.
      expect(all.match(/refused by the scan gate \("scan\.findings" check\)/g)?.length, all).toBe(2);
      expect(all).toContain("critical 1 > maxCritical 0: CVE-2022-37434 (CRITICAL, zlib 1.2.12-r1)");
      expect([liveRevision(staging), liveVersion("staging")]).toEqual([revision, version]);
      // Let it through on purpose: an allow-list entry with a reason and an expiry.
      for (const [key, value] of [
        ["id", "CVE-2022-37434"],
        ["expires", tomorrow],
        ["reason", "inflateGetHeader is not reachable from this service"],
      ])
        ok(
          await run("staging", [
            "config",
            "set",
            "--path",
            `multicloud-deploy:scanGate.allow[0].${key}`,
            value,
          ]),
          `config set scanGate.allow[0].${key}`,
        );
      ok(await up("staging", C4), "staging up with the finding allowed");
      expect(liveRevision(staging)).not.toBe(revision);
      // Prod checks staging's signature (it signed what it let through), copies the image, and its own
      // registry scans the copy: prod's gate has no allow-list, so nothing takes traffic there.
      // (The rollback scenario left prod's api rolled back; this update promotes both services again.)
      ok(await run("prod", ["config", "rm", "multicloud-deploy:rollback"]), "config rm rollback");
      const prodRevision = liveRevision(prod);
      const prodVersion = liveVersion("prod");
      const scansBefore = c.cloud.scans.calls.length;
      const p = await up("prod", C4, "--continue-on-error");
      expect(p.code, text(p)).not.toBe(0);
      const prodOut = p.stdout + p.stderr;
      expect(prodOut.match(/refused by the scan gate \("scan\.findings" check\)/g)?.length, prodOut).toBe(2);
      expect(prodOut).toContain("us-central1-docker.pkg.dev/acme-apps-prod/apps/api@sha256:");
      expect(prodOut).toContain(
        "222222222222.dkr.ecr.us-east-1.amazonaws.com/multicloud-deploy-prod/worker@sha256:",
      );
      expect([liveRevision(prod), liveVersion("prod")]).toEqual([prodRevision, prodVersion]);
      expect(c.cloud.scans.calls.length).toBeGreaterThan(scansBefore);
    } finally {
      databases.forEach((f, i) => fs.writeFileSync(f, originals[i]!));
      await run("staging", ["config", "rm", "multicloud-deploy:scanGate"]);
    }
  });

  it("a finding published after the scan step passed stops the release at its own check, before it writes anything: traffic stays where it was", async () => {
    const api = (await images("staging")).api;
    const revision = liveRevision(staging);
    const events = c.cloud.history.length;
    // This update gates high findings too.
    ok(
      await run("staging", ["config", "set", "--path", "multicloud-deploy:scanGate.maxHigh", "0"]),
      "config set scanGate.maxHigh",
    );
    // A real advisory for the app's musl 1.2.5-r0 (CVE-2025-26519, iconv EUC-KR out-of-bounds write,
    // NVD 8.1 HIGH), published the moment the api's scan step has read its clean result: Container
    // Analysis re-analyses continuously, so the release step's own read sees it.
    c.cloud.scans.publishAfterRead = {
      repository: api.repositoryUrl,
      advisory: { id: "CVE-2025-26519", package: "musl", versions: ["1.2.5-r0"], severity: "HIGH" },
    };
    try {
      const r = await up("staging", C5, "--continue-on-error");
      expect(r.code, text(r)).not.toBe(0);
      const out = r.stdout + r.stderr;
      // The scan step passed (nothing was published yet); the release step refused on its own read.
      expect(out).not.toMatch(/refused by the scan gate/);
      expect(out).toMatch(
        new RegExp(
          `Cloud Run service api: release of api-${C5.slice(0, 7)}-[0-9a-f]{5} failed its scan check before any traffic .*high 1 > maxHigh 0: CVE-2025-26519 \\(HIGH, musl 1\\.2\\.5-r0\\).*traffic: 100% on ${revision}, unchanged`,
        ),
      );
      expect(c.cloud.scans.publishAfterRead).toBeUndefined();
      // Nothing was written: not even the candidate's tag, and all traffic is where it was.
      expect(liveRevision(staging)).toBe(revision);
      const candidate = c.cloud.history
        .slice(events)
        .flatMap((e) => (e.kind === "cloudrun" ? e.traffic : []))
        .filter((t) => String(t.revision ?? "").startsWith(`api-${C5.slice(0, 7)}`));
      expect(candidate).toEqual([]);
    } finally {
      c.cloud.scans.reset();
      c.cloud.scans.scanMs = 2_000;
      await run("staging", ["config", "rm", "multicloud-deploy:scanGate"]);
    }
  });

  it("pulumi destroy of prod deletes what it may and stops at its Cloud Run service and its registries: every image stays", async () => {
    const deployed = await images("prod");
    // --continue-on-error: the engine deletes all it can, so both refusals are reached whatever the
    // order (without it, no new step starts after the first failure).
    const r = await run("prod", ["destroy", "--yes", "--skip-preview", "--continue-on-error"]);
    const all = r.stdout + r.stderr;
    expect(r.code, text(r)).not.toBe(0);
    // The provider's refusal (Cloud Run deletionProtection, the stand-in's delete cites it) and the
    // engine's (protect on the registries: pkg/resource/deploy/step.go deleteProtectedError), for
    // the ECR repository; the Artifact Registry repository is never reached, the service needs it.
    expect(all).toContain("cannot destroy service without setting deletion_protection=false");
    expect(all).toMatch(
      /aws:ecr\/repository:Repository::worker-repo" cannot be deleted\s+because it is protected/,
    );
    expect(all).not.toMatch(/artifactregistry\/repository:Repository::images-repo" cannot be deleted/);
    const names = (await exported("prod")).deployment.resources!.map((res) => res.urn.split("::").pop());
    // What stays: the service and what it needs, and the registries.
    for (const kept of ["api", "api-sa", "api-promote", "api-verify", "images-repo", "worker-repo"]) {
      expect(names, kept).toContain(kept);
    }
    // What nothing protects goes: the function and its alias, URL and release step, and the
    // service's public invoker and release step (the service stays, but no longer answers the public).
    for (const gone of [
      "worker",
      "worker-live",
      "worker-url",
      "worker-release",
      "worker-role",
      "api-release",
      "api-invoker-allusers",
    ]) {
      expect(names, gone).not.toContain(gone);
    }
    // Every image prod ran is still in its repositories, the first commit's too.
    for (const [repositoryUrl, digest] of [
      [deployed.api.repositoryUrl, deployed.api.digest],
      [deployed.worker.repositoryUrl, deployed.worker.digest],
      [deployed.api.repositoryUrl, first.staging.api.digest],
      [deployed.worker.repositoryUrl, first.staging.worker.digest],
    ] as const) {
      expect(stored(repositoryUrl, digest).manifest, `${repositoryUrl}@${digest}`).toBe(true);
    }
  });

  it("pulumi destroy of staging removes everything it made, its repositories and their images too", async () => {
    // Staging's stack file sets protectRegistries: false, so its repositories go, and the stand-ins
    // delete them from the registries as the APIs do (ECR because forceDelete follows protect).
    // What docker-build leaves when its resource goes is the pipeline suite's.
    const deployed = await images("staging");
    ok(await run("staging", ["destroy", "--yes", "--skip-preview"]), "staging destroy");
    const left = (await exported("staging")).deployment.resources ?? [];
    expect(left.map((res) => res.type)).toEqual([]);
    for (const image of [deployed.api, deployed.worker, first.staging.api, first.staging.worker]) {
      expect(stored(image.repositoryUrl, image.digest).manifest, image.repositoryUrl).toBe(false);
    }
  });

  it("the engine's cost grows with the resources, not the program: preview of 5 and of 50 services", async () => {
    const ms: Record<number, number> = {};
    const resources: Record<number, number> = {};
    // Twice each, interleaved, the faster kept: one slow start-up on a 2-core machine is not a trend.
    for (const n of [...SCALES, ...SCALES]) {
      const r = ok(await run(`scale${n}`, ["preview"]), `preview of ${n} services`);
      const created = /Resources:\s+\+ (\d+) to create/.exec(r.stdout);
      expect(created, r.stdout.slice(-2000)).not.toBeNull();
      ms[n] = Math.min(ms[n] ?? Infinity, r.ms);
      resources[n] = Number(created![1]);
    }
    // Every service brings the same resources: ten times the services, ten times the resources, less
    // the stack's own few.
    expect(resources[50]! / resources[5]!).toBeGreaterThan(9);
    timings.preview5Resources = resources[5]!;
    timings.preview50Resources = resources[50]!;
    timings.preview5ServicesMs = ms[5]!;
    timings.preview50ServicesMs = ms[50]!;
    timings.preview50To5Ratio = Number((ms[50]! / ms[5]!).toFixed(2));
    // The engine's cost of one more resource: the slope between the two, free of the fixed start-up.
    timings.previewMsPerResource = Number(((ms[50]! - ms[5]!) / (resources[50]! - resources[5]!)).toFixed(1));
  });
});
