/**
 * The registry token dance against a real registry with token auth (distribution's `auth: token`,
 * trusting a token server started by the test setup): what Artifact Registry asks of every client.
 * Images are pushed with the same client, so pushing, verifying and promoting all go through it.
 */
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { RegistryClient } from "../../lib/registry/client";
import { copyImage } from "../../lib/registry/copy";
import { MEDIA_TYPES } from "../../lib/registry/manifest-check";
import { verifyImage } from "../../lib/registry/verify";
import { requireRegistry } from "../../tools/image-fixtures";

let host: string;
let creds: { username: string; password: string };
beforeAll(() => {
  ({ host, ...creds } = requireRegistry(inject("tokenRegistry")));
});

const digestOf = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function push(repo: string, architecture: string): Promise<string> {
  const client = new RegistryClient(host, { credentials: creds });
  const layer = Buffer.from(`layer of ${repo} for ${architecture}`);
  const config = Buffer.from(
    JSON.stringify({ os: "linux", architecture, rootfs: { type: "layers", diff_ids: [digestOf(layer)] } }),
  );
  await client.uploadBlob(repo, digestOf(layer), layer);
  await client.uploadBlob(repo, digestOf(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: digestOf(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
          digest: digestOf(layer),
          size: layer.length,
        },
      ],
    }),
  );
  await client.putManifest(repo, digestOf(manifest), manifest, MEDIA_TYPES.ociManifest);
  return digestOf(manifest);
}

describe("Bearer token auth against a real registry", () => {
  it("verifies with one token: challenge, token, manifest, config", async () => {
    const digest = await push("tok/api", "amd64");
    const result = await verifyImage({
      ref: `${host}/tok/api@${digest}`,
      platform: "linux/amd64",
      credentials: creds,
    });
    expect(result.stats).toMatchObject({ challenges: 1, authRequests: 1, requests: 4 });
  });

  it("says the token endpoint refused the credentials", async () => {
    const digest = await push("tok/denied", "amd64");
    await expect(
      verifyImage({
        ref: `${host}/tok/denied@${digest}`,
        platform: "linux/amd64",
        credentials: { username: creds.username, password: "wrong" },
      }),
    ).rejects.toThrow(
      /refused a token for repository:tok\/denied:pull from http:\/\/127\.0\.0\.1:\d+ \(401\): check the registry credentials/,
    );
  });

  it("promotes by mounting, with one token for both repositories", async () => {
    const digest = await push("tok/staging", "arm64");
    const result = await copyImage({
      source: `${host}/tok/staging@${digest}`,
      destination: `${host}/tok/prod`,
      sourceCredentials: creds,
      destinationCredentials: creds,
    });
    // One token covering push on prod and pull on staging lets the registry mount: nothing is transferred.
    expect(result.blobs).toEqual({ total: 2, present: 0, mounted: 2, uploaded: 0, uploadedBytes: 0 });
    await expect(
      verifyImage({ ref: result.ref, platform: "linux/arm64", credentials: creds }),
    ).resolves.toMatchObject({ digest });
  });

  it("streams blobs it cannot mount under a bearer token, and the copy verifies", async () => {
    const digest = await push("tok/staging-upload", "amd64");
    const result = await copyImage({
      source: `${host}/tok/staging-upload@${digest}`,
      destination: `${host}/tok/prod-upload`,
      sourceCredentials: creds,
      destinationCredentials: creds,
      mount: false,
    });
    expect(result.blobs).toMatchObject({ total: 2, uploaded: 2 });
    await expect(
      verifyImage({ ref: result.ref, platform: "linux/amd64", credentials: creds }),
    ).resolves.toMatchObject({ digest });
  });
});
