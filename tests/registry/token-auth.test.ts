/**
 * The registry token dance against a real registry with token auth (distribution's `auth: token`,
 * trusting a token server started by the test setup): what Artifact Registry asks of every client.
 * Images are pushed with the same client, so pushing, verifying and promoting all go through it.
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import { RegistryClient } from "../../lib/registry/client";
import { copyImage } from "../../lib/registry/copy";
import { verifyImage } from "../../lib/registry/verify";
import { pushWithClient, requireRegistry } from "../../tools/image-fixtures";

let host: string;
let creds: { username: string; password: string };
beforeAll(() => {
  ({ host, ...creds } = requireRegistry(inject("tokenRegistry")));
});

const push = (repo: string, architecture: string) =>
  pushWithClient(new RegistryClient(host, { credentials: creds }), repo, architecture);

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
