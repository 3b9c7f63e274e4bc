/**
 * Promotion's copy against the real registry (CNCF distribution with htpasswd auth): a copied image
 * keeps its digest and passes verification in its new repository; blobs are mounted when the
 * registry can, uploaded when it cannot, and skipped when present; an index is never copied.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { BlobLocationCache } from "../../lib/registry/blob-cache";
import { copyImage } from "../../lib/registry/copy";
import { MEDIA_TYPES } from "../../lib/registry/manifest-check";
import { verifyImage } from "../../lib/registry/verify";
import { pushImage, pushIndex, type RegistryTarget, requireRegistry } from "../../tools/image-fixtures";

let t: RegistryTarget;
beforeAll(() => {
  t = requireRegistry(inject("registry"));
});
const creds = () => ({ username: t.username, password: t.password });

describe("copyImage (promotion) against a real registry", () => {
  it("copies by digest without a transfer when the registry can mount, and the copy verifies", async () => {
    const layers = [randomBytes(2048), randomBytes(4096)];
    const { digest } = await pushImage(t, "staging/api", { architecture: "amd64", layers });
    const result = await copyImage({
      source: `${t.host}/staging/api@${digest}`,
      destination: `${t.host}/prod/api`,
      sourceCredentials: creds(),
      destinationCredentials: creds(),
    });
    expect(result.ref).toBe(`${t.host}/prod/api@${digest}`);
    expect(result.blobs).toEqual({ total: 3, present: 0, mounted: 3, uploaded: 0, uploadedBytes: 0 });
    const verified = await verifyImage({ ref: result.ref, platform: "linux/amd64", credentials: creds() });
    expect(verified).toMatchObject({ digest, layers: 2 });
  });

  it("mounts from where the blob cache saw the blobs, on the destination registry, when the source is another host (issue 25)", async () => {
    const layers = [randomBytes(64 * 1024)];
    const { digest } = await pushImage(t, "elsewhere/app", { architecture: "amd64", layers });
    // The same registry under another name: to the copy, a source on another host (no source mount).
    const source = `${t.host.replace("127.0.0.1", "localhost")}/elsewhere/app@${digest}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "blob-cache-"));
    const copy = (destination: string, blobCache?: BlobLocationCache) =>
      copyImage({
        source,
        destination,
        sourceCredentials: creds(),
        destinationCredentials: creds(),
        blobCache,
      });
    const first = await copy(`${t.host}/cached-1/app`, new BlobLocationCache(path.join(dir, "c.json")));
    expect(first.blobs).toMatchObject({ total: 2, mounted: 0, uploaded: 2 });
    // A new process reads what the first one recorded.
    const second = await copy(`${t.host}/cached-2/app`, new BlobLocationCache(path.join(dir, "c.json")));
    expect(second.blobs).toEqual({ total: 2, present: 0, mounted: 2, uploaded: 0, uploadedBytes: 0 });
    await expect(
      verifyImage({ ref: second.ref, platform: "linux/amd64", credentials: creds() }),
    ).resolves.toMatchObject({ digest });
    // Without the cache, the same copy transfers every blob again.
    const uncached = await copy(`${t.host}/cached-3/app`);
    expect(uncached.blobs).toMatchObject({ mounted: 0, uploaded: 2 });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("uploads every blob when it cannot mount, then skips them all on a re-run", async () => {
    const layers = [randomBytes(8192)];
    const { digest } = await pushImage(t, "staging/worker", {
      architecture: "arm64",
      layers,
      format: "docker",
    });
    const copy = () =>
      copyImage({
        source: `${t.host}/staging/worker@${digest}`,
        destination: `${t.host}/prod-other-account/worker`,
        sourceCredentials: creds(),
        destinationCredentials: creds(),
        mount: false,
      });
    const first = await copy();
    expect(first.blobs).toMatchObject({ total: 2, present: 0, mounted: 0, uploaded: 2 });
    expect(first.blobs.uploadedBytes).toBeGreaterThan(8192);
    const again = await copy();
    expect(again.blobs).toMatchObject({ present: 2, uploaded: 0 });
    await expect(
      verifyImage({ ref: again.ref, platform: "linux/arm64", credentials: creds() }),
    ).resolves.toMatchObject({ digest, mediaType: MEDIA_TYPES.dockerManifest });
  });

  it("streams each blob in one PATCH (as docker push does, which ECR needs), several at once, and the copy verifies", async () => {
    const layers = [randomBytes(10_000), randomBytes(300 * 1024 + 17), randomBytes(7_001)];
    const { digest } = await pushImage(t, "staging/streamed", { architecture: "amd64", layers });
    const result = await copyImage({
      source: `${t.host}/staging/streamed@${digest}`,
      destination: `${t.host}/prod-streamed/api`,
      sourceCredentials: creds(),
      destinationCredentials: creds(),
      mount: false,
      concurrency: 2,
    });
    expect(result.blobs).toMatchObject({ total: 4, uploaded: 4 });
    expect(result.blobs.uploadedBytes).toBeGreaterThan(layers.reduce((n, l) => n + l.length, 0));
    // Per blob: HEAD (absent), POST, one PATCH, PUT; then the manifest. Auth challenges come on top.
    const d = result.stats.destination;
    expect(d.requests - d.challenges - d.authRequests).toBe(4 * 4 + 1);
    await expect(
      verifyImage({ ref: result.ref, platform: "linux/amd64", credentials: creds() }),
    ).resolves.toMatchObject({ digest, layers: 3 });
  });

  it("refuses to copy an index, and writes nothing", async () => {
    const image = await pushImage(t, "staging/idx", { architecture: "arm64" });
    const digest = await pushIndex(t, "staging/idx", "v1", [
      { digest: image.digest, size: image.size, platform: { os: "linux", architecture: "arm64" } },
    ]);
    await expect(
      copyImage({
        source: `${t.host}/staging/idx@${digest}`,
        destination: `${t.host}/prod/idx`,
        sourceCredentials: creds(),
        destinationCredentials: creds(),
      }),
    ).rejects.toThrow(/image is an OCI index with 1 manifest for linux\/arm64/);
    const probe = await fetch(`http://${t.host}/v2/prod/idx/manifests/${digest}`, {
      method: "HEAD",
      headers: { authorization: `Basic ${Buffer.from(`${t.username}:${t.password}`).toString("base64")}` },
    });
    expect(probe.status).toBe(404);
  });

  it("says the source image is gone when a cleanup policy deleted it", async () => {
    const missing = `sha256:${"0".repeat(64)}`;
    await expect(
      copyImage({
        source: `${t.host}/staging/api@${missing}`,
        destination: `${t.host}/prod/api`,
        sourceCredentials: creds(),
        destinationCredentials: creds(),
      }),
    ).rejects.toThrow(`manifest unknown: ${t.host}/staging/api has no manifest ${missing}`);
  });
});
