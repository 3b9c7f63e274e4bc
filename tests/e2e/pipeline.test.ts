/**
 * The image pipeline on the real engine: the Pulumi CLI and language host, the docker-build provider,
 * BuildKit and a TLS, token-auth registry on loopback (tests/e2e/env.ts). Each scenario is one `it`, in
 * order: they share one stack, as a team's successive deploys do. Timings go to bench/results.json (`e2e`).
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, recordTimings, sh, startEnvironment, type CliResult, type E2eEnvironment } from "./env";

const SHA = "3f2a6c1d9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f40";
const TIMESTAMP = 1763900000;
const PLATFORMS = { amd64: "linux/amd64", arm64: "linux/arm64" } as const;
type Arch = keyof typeof PLATFORMS;

let e: E2eEnvironment;
let currentSha = SHA;
const timings: Record<string, number> = {};

const ok = (r: CliResult, what: string) => {
  expect(r.code, `${what} failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`).toBe(0);
  return r;
};
const outputs = async () =>
  JSON.parse(ok(await e.pulumi(["stack", "output", "--json", "--show-secrets"]), "stack output").stdout)
    .result as Record<
    Arch,
    { imageRef: string; digest: string; tag: string; platform: string; verified: string }
  >;

/** The product's verifier CLI, as a person (or the verify step) runs it, with the suite's CA and login. */
async function verifyImage(ref: string, platform: string, extra: string[] = []) {
  const r = await sh(
    path.join(REPO, "node_modules/.bin/tsx"),
    [path.join(REPO, "scripts/verify-image.ts"), ref, "--platform", platform, "--json", ...extra],
    {
      ...(process.env as Record<string, string>),
      ...e.env,
      REGISTRY_LOGIN: JSON.stringify({
        kind: "env",
        usernameVar: "E2E_REGISTRY_USERNAME",
        passwordVar: "E2E_REGISTRY_PASSWORD",
      }),
    },
    REPO,
  );
  return { code: r.code, out: r.stdout + r.stderr, ms: r.ms };
}

beforeAll(async () => {
  e = await startEnvironment();
  for (const [k, v] of Object.entries({
    "e2e:registry": e.registry.host,
    "e2e:commitSha": SHA,
    "e2e:commitTimestamp": String(TIMESTAMP),
  })) {
    ok(await e.pulumi(["config", "set", k, v]), `config set ${k}`);
  }
}, 40 * 60_000);

afterAll(() => {
  e?.stop();
  recordTimings("e2e", timings);
});

describe("the image pipeline on the real engine", () => {
  let first: Record<Arch, { imageRef: string; digest: string; tag: string; verified: string }>;

  it("pulumi up builds each platform's image, pushes it by digest, verifies it, then tags it; outputs pin repo@sha256", async () => {
    const up = ok(await e.pulumi(["up", "--yes"]), "pulumi up");
    timings.coldUpMs = up.ms;
    first = await outputs();
    // How much of an update the verification is: the verifier on its own, against the same registry.
    timings.verifyOneImageMs = (await verifyImage(first.amd64.imageRef, "linux/amd64")).ms;
    timings.verifyShareOfColdUp = Number(((2 * timings.verifyOneImageMs) / up.ms).toFixed(3));
    const digests = new Set<string>();
    for (const arch of Object.keys(PLATFORMS) as Arch[]) {
      const o = first[arch];
      expect(o.imageRef).toBe(`${e.registry.host}/e2e/hello@${o.digest}`);
      expect(o.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(o.tag).toMatch(new RegExp(`^${SHA}-${arch}-[0-9a-f]{8}$`));
      // The verify step really ran: it read the image back and created the commit tag.
      expect(o.verified).toContain(`verified ${o.imageRef}`);
      expect(o.verified).toContain(`tag ${o.tag} created`);
      // Read back from the registry: one image manifest (no index, no attestation), this platform,
      // and the commit tag now points at that digest.
      const v = await verifyImage(o.imageRef, PLATFORMS[arch], ["--tag", o.tag]);
      expect(v.code, v.out).toBe(0);
      const result = JSON.parse(v.out);
      expect(result.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
      expect(result.platform).toBe(PLATFORMS[arch]);
      expect(result.tag).toEqual({ name: o.tag, state: "existing" });
      digests.add(o.digest);
    }
    expect(digests.size).toBe(2);
  });

  it("a re-run at the same commit with rotated registry credentials is a no-op: preview --expect-no-changes, up changes nothing", async () => {
    e.rotateCredentials();
    const preview = ok(
      await e.pulumi(["preview", "--expect-no-changes", "--diff"]),
      "pulumi preview --expect-no-changes",
    );
    timings.noopPreviewMs = preview.ms;
    expect(preview.stdout).not.toMatch(/~ |\+ |- /);
    const up = ok(await e.pulumi(["up", "--yes", "--expect-no-changes"]), "pulumi up --expect-no-changes");
    expect(up.stdout).toMatch(/\d+ unchanged/);
    expect(await outputs()).toEqual(first);
  });

  it("rebuilds byte for byte: after the BuildKit cache is gone and the files are touched, one digest (issue 12 #7)", async () => {
    ok(await e.buildctl(["prune", "--all"]), "buildctl prune");
    const now = new Date();
    for (const f of fs.readdirSync(path.join(e.workDir, "apps/hello"))) {
      fs.utimesSync(path.join(e.workDir, "apps/hello", f), now, now);
    }
    const urn = `urn:pulumi:e2e::e2e-images::multicloud:image:ContainerImage$docker-build:index:Image::hello-arm64-image`;
    const up = ok(await e.pulumi(["up", "--yes", "--replace", urn]), "pulumi up --replace");
    timings.coldRebuildMs = up.ms;
    expect((await outputs()).arm64.digest).toBe(first.arm64.digest);
    // So a retried deploy's verify step finds the tag where it left it.
    const v = await verifyImage(first.arm64.imageRef, "linux/arm64", ["--tag", first.arm64.tag]);
    expect(JSON.parse(v.out).tag.state).toBe("existing");
  });

  it("rejects the seeds' images built by real BuildKit: an index with provenance, for one platform or two", async () => {
    // Push the way the seeds' builds did: BuildKit's provenance attestation on (what buildx adds by
    // default), one platform (seed 001) and two.
    fs.writeFileSync(
      path.join(e.env.DOCKER_CONFIG!, "config.json"),
      JSON.stringify({
        auths: {
          [e.registry.host]: {
            auth: Buffer.from(`${e.registry.username}:${e.env.E2E_REGISTRY_PASSWORD}`).toString("base64"),
          },
        },
      }),
    );
    for (const [name, platforms] of [
      ["seed-one", "linux/arm64"],
      ["seed-two", "linux/amd64,linux/arm64"],
    ] as const) {
      const meta = path.join(e.workDir, `${name}.json`);
      const ctx = path.join(e.workDir, "apps/hello");
      ok(
        await e.buildctl([
          "build",
          "--frontend",
          "dockerfile.v0",
          "--local",
          `context=${ctx}`,
          "--local",
          `dockerfile=${ctx}`,
          "--opt",
          `platform=${platforms}`,
          "--opt",
          "attest:provenance=mode=max",
          "--output",
          `type=image,name=${e.registry.host}/e2e/${name},push=true`,
          "--metadata-file",
          meta,
        ]),
        `buildctl build ${name}`,
      );
      const digest = JSON.parse(fs.readFileSync(meta, "utf8"))["containerimage.digest"] as string;
      const v = await verifyImage(`${e.registry.host}/e2e/${name}@${digest}`, "linux/arm64");
      expect(v.code, v.out).toBe(1);
      expect(v.out).toMatch(/an OCI index .*attestation/);
      expect(v.out).toContain("rebuild without attestations");
    }
    // The program's own build of the same Dockerfile passes (scenario 1 verified it); once more here.
    expect((await verifyImage(first.arm64.imageRef, "linux/arm64")).code).toBe(0);
  });

  it("the policy pack, run by the engine's analyzer, passes the stack and blocks the seeds' build", async () => {
    const pack = [
      "--policy-pack",
      e.policyPack,
      "--policy-pack-config",
      path.join(REPO, "policy/config.staging.json"),
    ];
    const clean = ok(await e.pulumi(["preview", ...pack]), "pulumi preview with the policy pack");
    timings.previewWithPolicyPackMs = clean.ms;
    expect(clean.stdout).toMatch(/Policies:\s+✅ multicloud-deploy@v0\.1\.0/);
    expect(clean.stdout).not.toMatch(/mandatory/);

    ok(await e.pulumi(["config", "set", "--type", "bool", "e2e:policyViolation", "true"]), "config set");
    const blocked = await e.pulumi(["preview", ...pack]);
    ok(await e.pulumi(["config", "rm", "e2e:policyViolation"]), "config rm");
    const text = blocked.stdout + blocked.stderr;
    fs.writeFileSync(path.join(REPO, "bench/e2e-policy-preview.txt"), `${clean.stdout}\n---\n${text}`);
    expect(blocked.code, text).not.toBe(0);
    expect(text).toMatch(/❌ multicloud-deploy@v0\.1\.0/);
    expect(text).toMatch(
      /\[mandatory\]\s+image-build-single-platform\s+\(docker-build:index:Image: seed-build\)/,
    );
    expect(text).toMatch(
      /\[mandatory\]\s+image-build-no-attestations\s+\(docker-build:index:Image: seed-build\)/,
    );
    expect(text).toContain('image build "seed-build" has exec: true');
    expect(text).toMatch(
      /\[mandatory\]\s+cloud-run-image-pinned-by-digest\s+\(gcp:cloudrunv2:Service: tagged\)/,
    );
  });

  it("a new commit rebuilds with a warm cache and verifies the new digest", async () => {
    fs.appendFileSync(path.join(e.workDir, "apps/hello/hello.txt"), "a change\n");
    currentSha = SHA.replace(/^3f/, "4e");
    ok(await e.pulumi(["config", "set", "e2e:commitSha", currentSha]), "config set");
    const up = ok(await e.pulumi(["up", "--yes", "--skip-preview"]), "pulumi up");
    timings.warmUpMs = up.ms;
    const next = await outputs();
    for (const arch of Object.keys(PLATFORMS) as Arch[]) {
      expect(next[arch].digest).not.toBe(first[arch].digest);
      expect(next[arch].verified).toContain(`verified ${next[arch].imageRef}`);
    }
  });

  it("an update killed mid-push, re-run, succeeds: every tag once, at its digest; nothing lost; destroy keeps the images", async () => {
    // A large layer, so the push is still running when the update is killed.
    const big = path.join(e.workDir, "apps/hello/big.bin");
    fs.writeFileSync(big, randomBytes(384 << 20));
    const before = await outputs();
    currentSha = SHA.replace(/^3f/, "5d");
    ok(await e.pulumi(["config", "set", "e2e:commitSha", currentSha]), "config set");
    const uploads = path.join(e.registry.dataDir, "docker/registry/v2/repositories/e2e/hello/_uploads");
    const child = e.spawnPulumi(["up", "--yes", "--skip-preview"]);
    let output = "";
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    let exited = false;
    child.on("exit", () => (exited = true));
    // Kill it while BuildKit is uploading a blob (distribution keeps an _uploads entry meanwhile).
    const uploading = () => fs.existsSync(uploads) && fs.readdirSync(uploads).length > 0;
    const deadline = Date.now() + 180_000;
    while (!uploading() && !exited && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(exited, `the update ended before any upload was seen:\n${output.slice(-3000)}`).toBe(false);
    expect(uploading(), "no upload began within 3 minutes").toBe(true);
    process.kill(-child.pid!, "SIGKILL");
    await new Promise((r) => (exited ? r(undefined) : child.on("exit", r)));
    // What a user does after a killed update: release the stack's lock, then run it again.
    ok(await e.pulumi(["cancel", "--yes"]), "pulumi cancel");

    const rerun = ok(await e.pulumi(["up", "--yes", "--skip-preview"]), "pulumi up after the kill");
    timings.rerunAfterKillMs = rerun.ms;
    const after = await outputs();
    for (const arch of Object.keys(PLATFORMS) as Arch[]) {
      expect(after[arch].tag).toMatch(new RegExp(`^${currentSha}-${arch}-`));
      const v = await verifyImage(after[arch].imageRef, PLATFORMS[arch], ["--tag", after[arch].tag]);
      expect(JSON.parse(v.out).tag.state, v.out).toBe("existing");
      // The earlier commit's image and tag are untouched.
      const old = await verifyImage(before[arch].imageRef, PLATFORMS[arch], ["--tag", before[arch].tag]);
      expect(JSON.parse(old.out).tag.state, old.out).toBe("existing");
    }

    // `pulumi destroy` removes the stack's resources but no image: every build is retainOnDelete.
    ok(await e.pulumi(["destroy", "--yes", "--skip-preview"]), "pulumi destroy");
    for (const o of [first, before, after]) {
      for (const arch of Object.keys(PLATFORMS) as Arch[]) {
        expect((await verifyImage(o[arch].imageRef, PLATFORMS[arch])).code).toBe(0);
      }
    }
    fs.rmSync(big);
  });

  it("with issue 12's push defect put back (a tag on a push by digest), pulumi up fails with BuildKit's own message", async () => {
    ok(await e.pulumi(["config", "set", "--type", "bool", "e2e:pushDefect", "true"]), "config set");
    const up = await e.pulumi(["up", "--yes", "--skip-preview"]);
    ok(await e.pulumi(["config", "rm", "e2e:pushDefect"]), "config rm");
    expect(up.code).not.toBe(0);
    const message = /can't push tagged ref \S+ by digest/.exec(up.stdout + up.stderr);
    expect(message?.[0]).toBe(
      `can't push tagged ref ${e.registry.host}/e2e/defect:${currentSha}-amd64 by digest`,
    );
    // The whole diagnostic, as a user sees it, for the record.
    const line = (up.stdout + up.stderr).split("\n").find((l) => l.includes("can't push tagged ref"));
    fs.writeFileSync(path.join(REPO, "bench/e2e-push-defect.txt"), `${line!.trim()}\n`);
  });
});
