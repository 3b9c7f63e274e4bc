/**
 * Signing and checking a digest in cosign's format: the real Google and AWS clients against the fake
 * KMS APIs (tools/fake-cloud/kms.ts), a real registry (tests/setup/registry.global.ts), and each check a
 * refusal names (lib/signing/verify.ts).
 */
import { KMSClient } from "@aws-sdk/client-kms";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RegistryClient } from "../../lib/registry/client";
import type { HttpClient } from "../../lib/release/cloud-run";
import { sha256Digest } from "../../lib/registry/manifest-check";
import { awsKmsSigner, gcpKmsSigner, type Signer } from "../../lib/signing/kms";
import { checkSourceSignature, copySignature, type SignedCopyOptions } from "../../lib/signing/promote";
import { signImage } from "../../lib/signing/sign";
import {
  OCI_MANIFEST,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  SIGSTORE_BUNDLE_MEDIA_TYPE,
  signatureTag,
} from "../../lib/signing/simple-signing";
import { verifySignature } from "../../lib/signing/verify";
import { FakeCloud } from "../../tools/fake-cloud";
import { pushImage, requireRegistry, type RegistryTarget } from "../../tools/image-fixtures";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const STAGING_KEY =
  "projects/acme-apps-staging/locations/us-central1/keyRings/multicloud-deploy/cryptoKeys/image-signing/cryptoKeyVersions/1";
const OTHER_KEY = STAGING_KEY.replace("image-signing", "someone-else");

let t: RegistryTarget;
let cloud: FakeCloud;
let registry: RegistryClient;

/** google-auth-library's OAuth2Client with an access token the fake issued to `principal`. */
async function googleAs(principal: string): Promise<HttpClient> {
  const res = await fetch(`${cloud.url}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `grant_type=refresh_token&refresh_token=${principal}`,
  });
  const client = new OAuth2Client();
  client.setCredentials({ access_token: ((await res.json()) as { access_token: string }).access_token });
  return client as unknown as HttpClient;
}
const gcp = async (key = STAGING_KEY, principal = "deployer@acme-apps-staging") =>
  gcpKmsSigner(key, await googleAs(principal), cloud.url);
const kmsClient = (accessKeyId: string) =>
  new KMSClient({
    region: "us-east-1",
    endpoint: cloud.url,
    credentials: { accessKeyId, secretAccessKey: "fake" },
    maxAttempts: 1,
  });

beforeAll(async () => {
  t = requireRegistry(inject("registry"));
  registry = new RegistryClient(t.host, { credentials: { username: t.username, password: t.password } });
  cloud = await new FakeCloud({
    accounts: { AKIASTAGING: "111111111111", AKIAPROD: "222222222222" },
  }).start();
  cloud.kms.addGoogleKey(STAGING_KEY, ["deployer@acme-apps-staging"]);
  cloud.kms.addGoogleKey(OTHER_KEY, ["deployer@acme-apps-staging"]);
  cloud.kms.addAwsKey("111111111111", "us-east-1", "alias/image-signing");
});
afterAll(() => cloud?.stop());

const sign = (repository: string, digest: string, signer: Signer, commit = COMMIT) =>
  signImage({
    client: registry,
    repository,
    reference: `${t.host}/${repository}`,
    digest,
    signer,
    claims: { commit, stack: "staging" },
  });
const check = async (repository: string, digest: string, signer: Signer, commit = COMMIT) =>
  verifySignature({
    client: registry,
    repository,
    digest,
    publicKeyPem: await signer.publicKeyPem(),
    commit,
    stack: "staging",
  });

describe("signing in staging", () => {
  it("signs a verified digest with Cloud KMS in cosign's format, and a second run keeps that signature", async () => {
    const { digest } = await pushImage(t, "signing/api");
    const signer = await gcp();
    expect((await sign("signing/api", digest, signer)).outcome).toBe("signed");
    const tag = signatureTag(digest);
    const first = await registry.getManifest("signing/api", tag, OCI_MANIFEST);
    const manifest = JSON.parse(first.body.toString("utf8"));
    expect(manifest).toMatchObject({
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json" },
      layers: [
        { mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations: { [SIGNATURE_ANNOTATION]: expect.any(String) } },
      ],
    });
    const payload = JSON.parse(
      (await registry.getBlob("signing/api", manifest.layers[0].digest)).body.toString(),
    );
    expect(payload).toEqual({
      critical: {
        identity: { "docker-reference": `${t.host}/signing/api` },
        image: { "docker-manifest-digest": digest },
        type: "cosign container image signature",
      },
      optional: { commit: COMMIT, stack: "staging" },
    });
    // Idempotent under immutable tags: the same .sig, and no second call to sign.
    const signs = () => cloud.kms.calls.filter((c) => c.op === "asymmetricSign").length;
    const before = signs();
    expect((await sign("signing/api", digest, signer)).outcome).toBe("kept");
    expect(signs()).toBe(before);
    expect((await registry.getManifest("signing/api", tag, OCI_MANIFEST)).body).toEqual(first.body);
    expect(await check("signing/api", digest, signer)).toMatchObject({
      ok: true,
      claims: { commit: COMMIT },
    });
  });

  it("signs with AWS KMS by alias through the AWS SDK, and the key's public key verifies it", async () => {
    const { digest } = await pushImage(t, "signing/worker", { architecture: "arm64" });
    const signer = awsKmsSigner("alias/image-signing", kmsClient("AKIASTAGING"));
    expect((await sign("signing/worker", digest, signer)).outcome).toBe("signed");
    expect(await check("signing/worker", digest, signer)).toMatchObject({ ok: true });
  });

  it("stops when the .sig tag holds someone else's signature: immutable tags cannot be written twice", async () => {
    const { digest } = await pushImage(t, "signing/taken");
    await sign("signing/taken", digest, await gcp(OTHER_KEY));
    await expect(sign("signing/taken", digest, await gcp())).rejects.toThrow(
      /holds no signature by the pinned key \(signed by another key\); the \.sig tag exists and tags are immutable, so it cannot be replaced: delete .*signing\/taken:sha256-[0-9a-f]{64}\.sig/,
    );
  });
});

describe("each check a refusal names", () => {
  it("unsigned, another key, another digest's .sig, another commit, a Sigstore bundle", async () => {
    const signer = await gcp();
    const a = (await pushImage(t, "checks/a")).digest;
    const b = (await pushImage(t, "checks/a", { layers: [Buffer.from("b")] })).digest;
    expect(await check("checks/a", a, signer)).toMatchObject({ ok: false, check: "unsigned" });

    await sign("checks/a", a, await gcp(OTHER_KEY));
    expect(await check("checks/a", a, signer)).toMatchObject({ ok: false, check: "key" });

    // b's .sig is a's, copied byte for byte: a valid signature by this key, of another digest.
    await sign("checks/a", b, signer, "c".repeat(40));
    const c = (await pushImage(t, "checks/a", { layers: [Buffer.from("c")] })).digest;
    const copied = await registry.getManifest("checks/a", signatureTag(b), OCI_MANIFEST);
    await registry.putManifest("checks/a", signatureTag(c), copied.body, OCI_MANIFEST);
    expect(await check("checks/a", c, signer)).toMatchObject({
      ok: false,
      check: "digest",
      problem: expect.stringContaining(`is of ${b}, not ${c} (a .sig copied from another image)`),
    });
    expect(await check("checks/a", b, signer)).toMatchObject({
      ok: false,
      check: "commit",
      problem: `${b} was signed for commit ${"c".repeat(40)}, not ${COMMIT}`,
    });

    const d = (await pushImage(t, "checks/a", { layers: [Buffer.from("d")] })).digest;
    // An OCI 1.1 artifact as cosign v3 writes a bundle: the empty config, the bundle as its layer.
    const empty = Buffer.from("{}");
    const bundleBody = Buffer.from(JSON.stringify({ mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE }));
    for (const blob of [empty, bundleBody]) await registry.uploadBlob("checks/a", sha256Digest(blob), blob);
    const bundle = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE,
        config: {
          mediaType: "application/vnd.oci.empty.v1+json",
          digest: sha256Digest(empty),
          size: empty.length,
        },
        layers: [
          {
            mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE,
            digest: sha256Digest(bundleBody),
            size: bundleBody.length,
          },
        ],
      }),
    );
    // cosign v3 attaches it as a referrer of d: through the referrers API, or (a registry without one,
    // as this one) the distribution-spec fallback tag `sha256-<hex>`, an index of the referrers.
    await registry.putManifest("checks/a", sha256Digest(bundle), bundle, OCI_MANIFEST);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: sha256Digest(bundle),
            size: bundle.length,
            artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE,
          },
        ],
      }),
    );
    await registry.putManifest(
      "checks/a",
      d.replace(":", "-"),
      index,
      "application/vnd.oci.image.index.v1+json",
    );
    expect(await check("checks/a", d, signer)).toMatchObject({
      ok: false,
      check: "format",
      problem: expect.stringContaining(
        "carries a Sigstore bundle (cosign v3's default format, an OCI referrer)",
      ),
    });
  });
});

describe("who signed it, for which image", () => {
  it("refuses a signature by another stack, or made as another repository's image", async () => {
    const signer = await gcp();
    const { digest } = await pushImage(t, "claims/api");
    await sign("claims/api", digest, signer);
    const publicKeyPem = await signer.publicKeyPem();
    const at = (o: { stack?: string; reference?: string }) =>
      verifySignature({
        client: registry,
        repository: "claims/api",
        digest,
        publicKeyPem,
        commit: COMMIT,
        ...o,
      });
    expect(await at({ stack: "staging", reference: `${t.host}/claims/api` })).toMatchObject({ ok: true });
    expect(await at({ stack: "dev" })).toMatchObject({
      ok: false,
      check: "claims",
      problem: `${digest} was signed by stack staging, not dev`,
    });
    expect(await at({ reference: `${t.host}/claims/worker` })).toMatchObject({
      ok: false,
      check: "claims",
      problem: `${digest} was signed as ${t.host}/claims/api, not ${t.host}/claims/worker`,
    });
  });
});

describe("promotion carries the signature", () => {
  const copy = async (
    digest: string,
    from: string,
    to: string,
    signer: Signer,
    commit = COMMIT,
    // What promote-image passes: the source repository, except for a rollback (a copy within one).
    reference: string | undefined = from === to ? undefined : `${t.host}/${from}`,
  ): Promise<SignedCopyOptions> => ({
    from: {
      client: registry,
      host: t.host,
      repository: from,
      credentials: { username: t.username, password: t.password },
    },
    to: {
      client: registry,
      host: t.host,
      repository: to,
      credentials: { username: t.username, password: t.password },
    },
    digest,
    publicKeyPem: await signer.publicKeyPem(),
    commit,
    stack: "staging",
    ...(reference ? { reference } : {}),
  });

  it("checks at the source, copies the .sig byte for byte, and the copy verifies where it now is", async () => {
    const signer = await gcp();
    const { digest } = await pushImage(t, "staging/api");
    await sign("staging/api", digest, signer);
    const o = await copy(digest, "staging/api", "prod/api", signer);
    const manifest = await checkSourceSignature(o);
    await copySignature(o, manifest);
    const copied = await registry.getManifest("prod/api", signatureTag(digest), OCI_MANIFEST);
    expect(copied.body).toEqual(manifest);
    expect(await check("prod/api", digest, signer)).toMatchObject({ ok: true, claims: { stack: "staging" } });
    // A re-run finds the tag on the same bytes and leaves it (immutable tags): no PUT of the tag.
    const writes = registry.stats.requests;
    const puts: string[] = [];
    const put = registry.putManifest.bind(registry);
    registry.putManifest = async (...a) => (puts.push(a[1]), put(...a));
    try {
      await copySignature(o, manifest);
    } finally {
      registry.putManifest = put;
    }
    expect(puts.filter((tag) => tag === signatureTag(digest))).toEqual([]);
    expect(registry.stats.requests).toBeGreaterThan(writes);
  });

  it("a rollback, a copy within prod's repository, checks the signature its promotion copied there, for that commit", async () => {
    const signer = await gcp();
    const { digest } = await pushImage(t, "staging/rolled-back");
    await sign("staging/rolled-back", digest, signer);
    const promotion = await copy(digest, "staging/rolled-back", "prod/rolled-back", signer);
    await copySignature(promotion, await checkSourceSignature(promotion));
    // The signature names staging's repository, not prod's: within one repository, that claim is not asked.
    const rollback = await copy(digest, "prod/rolled-back", "prod/rolled-back", signer);
    const manifest = await checkSourceSignature(rollback);
    await copySignature(rollback, manifest);
    // A rollback names the commit it goes back to: another commit fails, as a promotion does.
    await expect(
      checkSourceSignature(
        await copy(digest, "prod/rolled-back", "prod/rolled-back", signer, "f".repeat(40)),
      ),
    ).rejects.toThrow(`failed the "commit" check`);
    // Between two repositories the claim is asked: prod's copy is not staging's image.
    await expect(
      checkSourceSignature(await copy(digest, "prod/rolled-back", "prod/elsewhere", signer)),
    ).rejects.toThrow(`failed the "claims" check`);
  });

  it("refuses an unsigned image, or one signed for another commit, naming the image, the digest and the check", async () => {
    const signer = await gcp();
    const { digest } = await pushImage(t, "staging/pushed-by-hand");
    await expect(
      checkSourceSignature(await copy(digest, "staging/pushed-by-hand", "prod/x", signer)),
    ).rejects.toThrow(
      `${t.host}/staging/pushed-by-hand@${digest}: refused, its signature failed the "unsigned" check`,
    );
    await sign("staging/pushed-by-hand", digest, signer, "f".repeat(40));
    await expect(
      checkSourceSignature(await copy(digest, "staging/pushed-by-hand", "prod/x", signer)),
    ).rejects.toThrow(`failed the "commit" check`);
  });
});

describe("the KMS APIs refuse as the clouds do", () => {
  it("Cloud KMS: another identity may not sign, and a digest whose CRC32C is wrong is refused", async () => {
    const asProd = await gcp(STAGING_KEY, "deployer@acme-apps-prod");
    await expect(asProd.signDigest(Buffer.alloc(32))).rejects.toThrow(
      `Permission 'cloudkms.cryptoKeyVersions.useToSign' denied on resource '${STAGING_KEY}' (or it may not exist).`,
    );
    const http = await googleAs("deployer@acme-apps-staging");
    await expect(
      http.request({
        url: `${cloud.url}/v1/${STAGING_KEY}:asymmetricSign`,
        method: "POST",
        data: { digest: { sha256: Buffer.alloc(32).toString("base64") }, digestCrc32c: "1" },
      }),
    ).rejects.toThrow("The checksum in field digest_crc32c did not match the data in field digest.");
  });

  it("AWS KMS: an unknown alias, another account's key and a digest of the wrong length", async () => {
    await expect(
      awsKmsSigner("alias/nope", kmsClient("AKIASTAGING")).signDigest(Buffer.alloc(32)),
    ).rejects.toThrow("Alias arn:aws:kms:us-east-1:111111111111:alias/nope is not found.");
    const arn = [...cloud.kms.aws.keys()][0]!;
    await expect(awsKmsSigner(arn, kmsClient("AKIAPROD")).signDigest(Buffer.alloc(32))).rejects.toThrow(
      /is not authorized to perform: kms:Sign/,
    );
    await expect(awsKmsSigner(arn, kmsClient("AKIASTAGING")).signDigest(Buffer.alloc(31))).rejects.toThrow(
      "Digest is invalid length for algorithm ECDSA_SHA_256.",
    );
  });
});
