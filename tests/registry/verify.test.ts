/**
 * The verifier against a real registry (CNCF distribution with htpasswd auth, started by
 * tests/setup/registry.global.ts), one test per failure the seeds describe.
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import { MEDIA_TYPES } from "../../lib/registry/manifest-check";
import { verifyImage } from "../../lib/registry/verify";
import { pushImage, pushIndex, type RegistryTarget, requireRegistry } from "../../tools/image-fixtures";
import { startRegistryProxy } from "../../tools/registry-proxy";

let t: RegistryTarget;
beforeAll(() => {
  t = requireRegistry(inject("registry"));
});

const creds = () => ({ username: t.username, password: t.password });

async function expectProblem(promise: Promise<unknown>, text: string) {
  await expect(promise).rejects.toThrow(text);
}

describe("verifyImage against a real registry", () => {
  it("passes a single-platform image and reads only the manifest and config", async () => {
    const { digest } = await pushImage(t, "good/api", {
      architecture: "amd64",
      layers: [Buffer.from("a"), Buffer.from("b")],
    });
    const result = await verifyImage({
      ref: `${t.host}/good/api@${digest}`,
      platform: "linux/amd64",
      credentials: creds(),
    });
    expect(result).toMatchObject({
      digest,
      layers: 2,
      platform: "linux/amd64",
      mediaType: MEDIA_TYPES.ociManifest,
    });
    // One challenge, then manifest + config: no layer was downloaded.
    expect(result.stats.requests).toBeLessThanOrEqual(4);
  });

  it("passes a Docker-format arm64 image for linux/arm64", async () => {
    const { digest } = await pushImage(t, "good/worker", { architecture: "arm64", format: "docker" });
    const result = await verifyImage({
      ref: `${t.host}/good/worker@${digest}`,
      platform: "linux/arm64",
      credentials: creds(),
    });
    expect(result.mediaType).toBe(MEDIA_TYPES.dockerManifest);
  });

  it("rejects an OCI index with an attestation manifest (BuildKit provenance)", async () => {
    const image = await pushImage(t, "idx/attest", { architecture: "arm64" });
    const attestation = await pushImage(t, "idx/attest", { os: "unknown", architecture: "unknown" });
    const digest = await pushIndex(t, "idx/attest", "v1", [
      { digest: image.digest, size: image.size, platform: { os: "linux", architecture: "arm64" } },
      {
        digest: attestation.digest,
        size: attestation.size,
        platform: { os: "unknown", architecture: "unknown" },
        annotations: {
          "vnd.docker.reference.type": "attestation-manifest",
          "vnd.docker.reference.digest": image.digest,
        },
      },
    ]);
    await expectProblem(
      verifyImage({ ref: `${t.host}/idx/attest@${digest}`, platform: "linux/arm64", credentials: creds() }),
      "image is an OCI index with 2 manifests (1 attestation) for linux/arm64; Lambda and this program accept only a single-platform image manifest: rebuild without attestations",
    );
  });

  it("rejects a Docker manifest list", async () => {
    const amd = await pushImage(t, "idx/list", { architecture: "amd64", format: "docker" });
    const arm = await pushImage(t, "idx/list", { architecture: "arm64", format: "docker" });
    const digest = await pushIndex(
      t,
      "idx/list",
      "v1",
      [
        { digest: amd.digest, size: amd.size, platform: { os: "linux", architecture: "amd64" } },
        { digest: arm.digest, size: arm.size, platform: { os: "linux", architecture: "arm64" } },
      ],
      "docker",
    );
    await expectProblem(
      verifyImage({ ref: `${t.host}/idx/list@${digest}`, platform: "linux/amd64", credentials: creds() }),
      "image is a Docker manifest list with 2 manifests for linux/amd64, linux/arm64",
    );
  });

  it("rejects 1 manifest layer with 0 config diff_ids (seed 000)", async () => {
    const { digest } = await pushImage(t, "broken/source-deploy", {
      layers: [Buffer.from("only layer")],
      diffIds: 0,
    });
    await expectProblem(
      verifyImage({
        ref: `${t.host}/broken/source-deploy@${digest}`,
        platform: "linux/amd64",
        credentials: creds(),
      }),
      'image has 1 manifest layer but 0 config diff_ids (Cloud Run refuses it: "got 1 Manifest.Layers vs 0 ConfigFile.RootFS.DiffIDs")',
    );
  });

  it("rejects an amd64 image where arm64 was asked for (seed 001)", async () => {
    const { digest } = await pushImage(t, "wrong/arch", { architecture: "amd64" });
    await expectProblem(
      verifyImage({ ref: `${t.host}/wrong/arch@${digest}`, platform: "linux/arm64", credentials: creds() }),
      "image is built for linux/amd64 but linux/arm64 was asked for",
    );
  });

  it("rejects a digest the registry does not have (seed 002)", async () => {
    await pushImage(t, "missing/digest");
    const absent = `sha256:${"0".repeat(64)}`;
    await expectProblem(
      verifyImage({
        ref: `${t.host}/missing/digest@${absent}`,
        platform: "linux/amd64",
        credentials: creds(),
      }),
      `manifest unknown: ${t.host}/missing/digest has no manifest ${absent}`,
    );
  });

  it("fails clearly on wrong credentials", async () => {
    const { digest } = await pushImage(t, "auth/api");
    await expectProblem(
      verifyImage({
        ref: `${t.host}/auth/api@${digest}`,
        platform: "linux/amd64",
        credentials: { username: t.username, password: "wrong" },
      }),
      "refused GET manifest auth/api@",
    );
  });

  it("retries a registry that answers 500 twice, then succeeds", async () => {
    const { digest } = await pushImage(t, "flaky/api");
    let failures = 0;
    const proxy = await startRegistryProxy(t.host, (req, res, forward) => {
      if (req.url?.includes("/manifests/") && failures < 2) {
        failures++;
        res.writeHead(500).end("boom");
        return;
      }
      forward();
    });
    const port = Number(proxy.host.split(":")[1]);
    try {
      const result = await verifyImage({
        ref: `127.0.0.1:${port}/flaky/api@${digest}`,
        platform: "linux/amd64",
        credentials: creds(),
        retryDelayMs: 10,
      });
      expect(failures).toBe(2);
      expect(result.digest).toBe(digest);
    } finally {
      await proxy.close();
    }
  });

  it("gives the commit tag to a verified digest, accepts a re-run, and refuses to move it", async () => {
    const first = await pushImage(t, "tags/api", { layers: [Buffer.from("one")] });
    const ref = `${t.host}/tags/api@${first.digest}`;
    const tag = `${"a".repeat(40)}-amd64-1234abcd`;
    const created = await verifyImage({ ref, platform: "linux/amd64", credentials: creds(), ensureTag: tag });
    expect(created.tag).toEqual({ name: tag, state: "created" });
    const again = await verifyImage({ ref, platform: "linux/amd64", credentials: creds(), ensureTag: tag });
    expect(again.tag).toEqual({ name: tag, state: "existing" });
    const other = await pushImage(t, "tags/api", { layers: [Buffer.from("two")] });
    await expectProblem(
      verifyImage({
        ref: `${t.host}/tags/api@${other.digest}`,
        platform: "linux/amd64",
        credentials: creds(),
        ensureTag: tag,
      }),
      `tag ${tag} already points at ${first.digest} and tags are immutable`,
    );
  });
});
