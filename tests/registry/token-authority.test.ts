/**
 * A token server that decides who may do what (tools/local-registry.ts `authority`), as the
 * real-engine suite's Artifact Registry and ECR stand-ins use it: an owner pushes and pulls, a
 * consumer granted read only pulls, anyone else gets nothing. Distribution enforces the granted
 * actions itself, so a push with a pull-only token is refused by the registry, not by us.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../lib/registry/client";
import { MEDIA_TYPES } from "../../lib/registry/manifest-check";
import { verifyImage } from "../../lib/registry/verify";
import { startRegistry, type LocalRegistry } from "../../tools/local-registry";

const digestOf = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const as = (username: string) => ({ username, password: `${username}-password` });
let registry: LocalRegistry;

beforeAll(async () => {
  registry = await startRegistry({
    auth: "token",
    authority: {
      subject: (username, password) => (password === `${username}-password` ? username : undefined),
      allowed: (subject, repository, actions) =>
        subject === "owner" && repository.startsWith("team/")
          ? actions
          : subject === "consumer"
            ? actions.filter((a) => a === "pull")
            : [],
    },
  });
}, 60_000);
afterAll(() => registry?.stop());

async function push(client: RegistryClient, repo: string): Promise<string> {
  const layer = Buffer.from(`a layer of ${repo}`);
  const config = Buffer.from(
    JSON.stringify({
      os: "linux",
      architecture: "amd64",
      rootfs: { type: "layers", diff_ids: [digestOf(layer)] },
    }),
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

describe("a token server with an authority", () => {
  it("lets the owner push, a consumer pull but not push, and a stranger neither", async () => {
    const owner = new RegistryClient(registry.host, { credentials: as("owner"), plainHttp: true });
    const digest = await push(owner, "team/api");
    const verified = await verifyImage({
      ref: `${registry.host}/team/api@${digest}`,
      platform: "linux/amd64",
      credentials: as("consumer"),
      plainHttp: true,
    });
    expect(verified.digest).toBe(digest);
    const consumer = new RegistryClient(registry.host, { credentials: as("consumer"), plainHttp: true });
    await expect(push(consumer, "team/api")).rejects.toThrow(/401|403|denied|unauthorized/i);
    await expect(
      verifyImage({
        ref: `${registry.host}/team/api@${digest}`,
        platform: "linux/amd64",
        credentials: as("stranger"),
        plainHttp: true,
      }),
    ).rejects.toThrow(/401|403|denied|unauthorized/i);
  });
});
