/**
 * Binary Authorization: the payload staging signs beside its cosign signature, the attestation a
 * promoting stack writes with it (lib/binauthz/), through google-auth-library against the fake
 * Binary Authorization and Container Analysis APIs (tools/fake-cloud/binauthz.ts), with a real registry
 * (tests/setup/registry.global.ts); and Cloud Run's admission of a revision under the project's policy.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { attestImage, policyWarning } from "../../lib/binauthz/attest";
import {
  BINAUTHZ_PAYLOAD_ANNOTATION,
  binauthzPayload,
  binauthzSignatureIn,
  pkixKeyId,
} from "../../lib/binauthz/payload";
import { decodeAttestArgs, decodeAttestStep, encodeAttestStep } from "../../lib/binauthz/step";
import { RegistryClient } from "../../lib/registry/client";
import type { HttpClient } from "../../lib/release/cloud-run";
import { gcpKmsSigner } from "../../lib/signing/kms";
import { signImage } from "../../lib/signing/sign";
import { OCI_MANIFEST, signatureTag } from "../../lib/signing/simple-signing";
import { FakeCloud } from "../../tools/fake-cloud";
import { pushImage, requireRegistry, type RegistryTarget } from "../../tools/image-fixtures";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const KEY =
  "projects/acme-apps-staging/locations/us-central1/keyRings/multicloud-deploy/cryptoKeys/image-signing/cryptoKeyVersions/1";
const OTHER = KEY.replace("image-signing", "someone-else");
const PROD = "acme-apps-prod";
const ATTESTOR = `projects/${PROD}/attestors/multicloud-deploy`;
const NOTE = `projects/${PROD}/notes/multicloud-deploy`;
const DEPLOYER = "deployer@acme-apps-prod.iam.gserviceaccount.com";

let t: RegistryTarget;
let cloud: FakeCloud;
let registry: RegistryClient;
let publicKeyPem: string;
let otherPem: string;

async function googleAs(principal: string): Promise<HttpClient> {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: await cloud.googleAccessToken(principal) });
  return client as unknown as HttpClient;
}

/** What the provider's creates send (resource_container_analysis_note.go, …_binary_authorization_attestor.go). */
async function makeAttestor(pem: string) {
  const http = await googleAs(DEPLOYER);
  await http.request({
    url: `${cloud.url}/v1/projects/${PROD}/notes?noteId=multicloud-deploy`,
    method: "POST",
    data: { attestation: { hint: { humanReadableName: "multicloud-deploy" } } },
  });
  await http.request({
    url: `${cloud.url}/v1/projects/${PROD}/attestors?attestorId=multicloud-deploy`,
    method: "POST",
    data: {
      userOwnedGrafeasNote: {
        noteReference: NOTE,
        publicKeys: [
          {
            id: pkixKeyId(pem),
            pkixPublicKey: { publicKeyPem: pem, signatureAlgorithm: "ECDSA_P256_SHA256" },
          },
        ],
      },
    },
  });
  // The note grant the component makes (NoteIamMember): Binary Authorization reads as the attestor.
  const email = cloud.binauthz.attestors.get(ATTESTOR)!.userOwnedGrafeasNote.delegationServiceAccountEmail;
  await setViewer(`serviceAccount:${email}`);
}

/** The note's viewer binding, as the provider's NoteIamMember writes it (read, add, write). */
async function setViewer(...members: string[]) {
  await (
    await googleAs(DEPLOYER)
  ).request({
    url: `${cloud.url}/v1/${NOTE}:setIamPolicy`,
    method: "POST",
    data: { policy: { bindings: [{ role: "roles/containeranalysis.notes.occurrences.viewer", members }] } },
  });
}

/** A digest signed by staging's key in `repo`, as staging's sign step leaves it (binauthz for GCP). */
async function signedImage(repo: string, key = KEY, binauthz = true) {
  const { digest } = await pushImage(t, repo, { layers: [Buffer.from(`${repo} ${key} ${binauthz}`)] });
  const signer = gcpKmsSigner(key, await googleAs("deployer@acme-apps-staging"), cloud.url);
  await signImage({
    client: registry,
    repository: repo,
    reference: `${t.host}/${repo}`,
    digest,
    signer,
    claims: { commit: COMMIT, stack: "staging" },
    binauthz,
  });
  const manifest = (await registry.getManifest(repo, signatureTag(digest), OCI_MANIFEST)).body.toString(
    "utf8",
  );
  return { digest, manifest };
}

beforeAll(async () => {
  t = requireRegistry(inject("registry"));
  registry = new RegistryClient(t.host, { credentials: { username: t.username, password: t.password } });
  cloud = await new FakeCloud().start();
  publicKeyPem = cloud.kms.addGoogleKey(KEY, ["deployer@acme-apps-staging"]).publicKeyPem;
  otherPem = cloud.kms.addGoogleKey(OTHER, ["deployer@acme-apps-staging"]).publicKeyPem;
  await makeAttestor(publicKeyPem);
});
afterAll(() => cloud?.stop());

describe("the payload", () => {
  it("is what `gcloud container binauthz create-signature-payload` prints, byte for byte", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    expect(binauthzPayload("us-central1-docker.pkg.dev/p/apps/api", digest).toString()).toBe(
      [
        "{",
        '  "critical": {',
        '    "identity": {',
        '      "docker-reference": "us-central1-docker.pkg.dev/p/apps/api"',
        "    },",
        '    "image": {',
        `      "docker-manifest-digest": "${digest}"`,
        "    },",
        '    "type": "Google cloud binauthz container signature"',
        "  }",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("names the key by RFC 6920's ni URI of its DER key's SHA-256, as openssl computes it", () => {
    const der = execFileSync("openssl", ["pkey", "-pubin", "-outform", "DER"], { input: publicKeyPem });
    const b64url = createHash("sha256")
      .update(der)
      .digest("base64")
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    expect(pkixKeyId(publicKeyPem)).toBe(`ni:///sha-256;${b64url}`);
    expect(pkixKeyId(otherPem)).not.toBe(pkixKeyId(publicKeyPem));
  });
});

describe("staging signs it beside cosign's signature", () => {
  it("in the .sig layer's annotations, signed by the same key; it verifies only for that key and that digest", async () => {
    const { digest, manifest } = await signedImage("binauthz/api");
    const signed = binauthzSignatureIn(manifest, digest, publicKeyPem);
    expect("problem" in signed).toBe(false);
    if (!("problem" in signed))
      expect(JSON.parse(signed.payload.toString()).critical.identity["docker-reference"]).toBe(
        `${t.host}/binauthz/api`,
      );
    expect(binauthzSignatureIn(manifest, digest, otherPem)).toEqual({
      problem: "its Binary Authorization payload is not signed by the pinned key",
    });
    expect(binauthzSignatureIn(manifest, `sha256:${"b".repeat(64)}`, publicKeyPem)).toMatchObject({
      problem: expect.stringContaining(`names ${digest}, not sha256:bbbb`),
    });
  });

  it("an image signed without it (by cosign itself, or before this) is refused with what to do", async () => {
    const { digest, manifest } = await signedImage("binauthz/plain", KEY, false);
    expect(manifest).not.toContain(BINAUTHZ_PAYLOAD_ANNOTATION);
    expect(binauthzSignatureIn(manifest, digest, publicKeyPem)).toMatchObject({
      problem: expect.stringContaining("carries no Binary Authorization payload"),
    });
  });
});

describe("prod attests its copy", () => {
  const endpoints = () => ({ binaryAuthorization: cloud.url, containerAnalysis: cloud.url });
  const attest = async (digest: string, manifest: string, o: { principal?: string; key?: string } = {}) => {
    const signed = binauthzSignatureIn(manifest, digest, publicKeyPem);
    if ("problem" in signed) throw new Error(signed.problem);
    return attestImage({
      http: await googleAs(o.principal ?? DEPLOYER),
      attestor: ATTESTOR,
      project: PROD,
      image: `us-central1-docker.pkg.dev/${PROD}/apps/api@${digest}`,
      signed,
      publicKeyId: o.key ?? pkixKeyId(publicKeyPem),
      endpoints: endpoints(),
    });
  };

  it("validates, then writes one ATTESTATION occurrence; a re-run keeps it and writes nothing", async () => {
    const { digest, manifest } = await signedImage("binauthz/promoted");
    const first = await attest(digest, manifest);
    // No policy set yet: the attestation is written, and the step says Cloud Run does not enforce it.
    expect(first).toMatchObject({
      outcome: "created",
      occurrence: expect.stringMatching(`^projects/${PROD}/occurrences/`),
      policy: "not-required",
    });
    expect(policyWarning("not-required", ATTESTOR)).toContain(
      `does not require ${ATTESTOR}: Cloud Run admits any image`,
    );
    expect(policyWarning("enforced", ATTESTOR)).toBeUndefined();
    const ops = cloud.binauthz.calls.map((c) => c.op);
    expect(ops.slice(-3)).toEqual([
      "attestors.get",
      "attestors.validateAttestationOccurrence",
      "occurrences.create",
    ]);
    const url = `https://us-central1-docker.pkg.dev/${PROD}/apps/api@${digest}`;
    expect(cloud.binauthz.occurrencesOf(PROD, url)).toMatchObject([{ noteName: NOTE, kind: "ATTESTATION" }]);
    expect(await attest(digest, manifest)).toEqual({
      outcome: "kept",
      occurrence: first.outcome === "created" ? first.occurrence : "",
      policy: "not-required",
    });
    expect(cloud.binauthz.occurrencesOf(PROD, url)).toHaveLength(1);
  });

  it("refuses when the attestor does not hold the key that signed, and writes nothing", async () => {
    const { digest, manifest } = await signedImage("binauthz/untrusted");
    const before = cloud.binauthz.attestations.length;
    expect(await attest(digest, manifest, { key: pkixKeyId(otherPem) })).toMatchObject({
      outcome: "refused",
      check: "attestor-key",
      problem: expect.stringContaining(`holds no key ${pkixKeyId(otherPem)}`),
    });
    expect(cloud.binauthz.attestations.length).toBe(before);
  });

  it("refuses what Binary Authorization does not verify (a signature of another payload), and writes nothing", async () => {
    const a = await signedImage("binauthz/mixed-a");
    const b = await signedImage("binauthz/mixed-b");
    const sa = binauthzSignatureIn(a.manifest, a.digest, publicKeyPem);
    const sb = binauthzSignatureIn(b.manifest, b.digest, publicKeyPem);
    if ("problem" in sa || "problem" in sb) throw new Error("not signed");
    const before = cloud.binauthz.attestations.length;
    const result = await attestImage({
      http: await googleAs(DEPLOYER),
      attestor: ATTESTOR,
      project: PROD,
      image: `us-central1-docker.pkg.dev/${PROD}/apps/api@${a.digest}`,
      signed: { payload: sa.payload, signature: sb.signature },
      publicKeyId: pkixKeyId(publicKeyPem),
      endpoints: endpoints(),
    });
    expect(result).toEqual({
      outcome: "refused",
      check: "validation",
      problem:
        "Binary Authorization answered ATTESTATION_NOT_VERIFIABLE: No attestations found that were valid and signed by a key trusted by the attestor",
    });
    expect(cloud.binauthz.attestations.length).toBe(before);
  });

  it("attaching to a note the caller may not use is IAM's own refusal, and a payload of another digest is not valid", async () => {
    const { digest, manifest } = await signedImage("binauthz/attach");
    const signed = binauthzSignatureIn(manifest, digest, publicKeyPem);
    if ("problem" in signed) throw new Error(signed.problem);
    const http = await googleAs(DEPLOYER);
    const attestation = {
      serializedPayload: signed.payload.toString("base64"),
      signatures: [{ publicKeyId: pkixKeyId(publicKeyPem), signature: signed.signature.toString("base64") }],
    };
    const before = cloud.binauthz.attestations.length;
    await expect(
      http.request({
        url: `${cloud.url}/v1/projects/${PROD}/occurrences`,
        method: "POST",
        data: {
          resourceUri: `https://x/${PROD}/apps/api@${digest}`,
          noteName: "projects/acme-other/notes/n",
          attestation,
        },
      }),
    ).rejects.toMatchObject({ response: { status: 403 } });
    expect(cloud.binauthz.attestations.length).toBe(before);
    const verdict = await http.request<{ result: string; denialReason: string }>({
      url: `${cloud.url}/v1/${ATTESTOR}:validateAttestationOccurrence`,
      method: "POST",
      data: {
        attestation,
        occurrenceNote: NOTE,
        occurrenceResourceUri: `https://us-central1-docker.pkg.dev/${PROD}/apps/api@sha256:${"e".repeat(64)}`,
      },
    });
    expect(verdict.data.result).toBe("ATTESTATION_NOT_VERIFIABLE");
  });

  it("another project's deployer may not read prod's attestor: IAM's own refusal", async () => {
    const { digest, manifest } = await signedImage("binauthz/stranger");
    await expect(
      attest(digest, manifest, { principal: "deployer@acme-other.iam.gserviceaccount.com" }),
    ).rejects.toThrow(/Permission 'binaryauthorization.attestors.get' denied/);
  });
});

describe("Cloud Run admits a revision under the project's policy", () => {
  it("only an image attested by a trusted key, by digest; dry run admits; a hand-made PATCH is checked too", async () => {
    const { digest, manifest } = await signedImage("binauthz/admitted");
    const signed = binauthzSignatureIn(manifest, digest, publicKeyPem);
    if ("problem" in signed) throw new Error(signed.problem);
    await attestImage({
      http: await googleAs(DEPLOYER),
      attestor: ATTESTOR,
      project: PROD,
      image: `us-central1-docker.pkg.dev/${PROD}/apps/api@${digest}`,
      signed,
      publicKeyId: pkixKeyId(publicKeyPem),
      endpoints: { binaryAuthorization: cloud.url, containerAnalysis: cloud.url },
    });
    const image = (d: string) => `us-central1-docker.pkg.dev/${PROD}/apps/api@${d}`;
    const other = `sha256:${"c".repeat(64)}`;
    // No policy: Cloud Run admits anything.
    expect(cloud.binauthz.admits(PROD, image(other))).toEqual({ admitted: true });
    const policy = (enforcementMode: string) =>
      fetch(`${cloud.url}/v1/projects/${PROD}/policy`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          defaultAdmissionRule: {
            evaluationMode: "REQUIRE_ATTESTATION",
            enforcementMode,
            requireAttestationsBy: [ATTESTOR],
          },
        }),
      });
    expect((await policy("ENFORCED_BLOCK_AND_AUDIT_LOG")).status).toBe(200);
    expect(cloud.binauthz.admits(PROD, image(digest))).toEqual({ admitted: true });
    // Without the note grant, Binary Authorization reads no attestation: every image is denied.
    const email = cloud.binauthz.attestors.get(ATTESTOR)!.userOwnedGrafeasNote.delegationServiceAccountEmail;
    await setViewer();
    expect(cloud.binauthz.admits(PROD, image(digest))).toMatchObject({ admitted: false });
    await setViewer(`serviceAccount:${email}`);
    // The step now reports the policy as enforcing this attestor.
    const again = await attestImage({
      http: await googleAs(DEPLOYER),
      attestor: ATTESTOR,
      project: PROD,
      image: image(digest),
      signed,
      publicKeyId: pkixKeyId(publicKeyPem),
      endpoints: { binaryAuthorization: cloud.url, containerAnalysis: cloud.url },
    });
    expect(again).toMatchObject({ outcome: "kept", policy: "enforced" });

    // The same digest anywhere is admitted ("only the IMAGE_DIGEST is used at deploy time").
    expect(cloud.binauthz.admits(PROD, `${t.host}/binauthz/admitted@${digest}`)).toEqual({ admitted: true });
    expect(cloud.binauthz.admits(PROD, image(other))).toMatchObject({
      admitted: false,
      reason: expect.stringContaining(`denied by attestor ${ATTESTOR}: No attestations found`),
    });
    expect(cloud.binauthz.admits(PROD, `us-central1-docker.pkg.dev/${PROD}/apps/api:latest`)).toMatchObject({
      admitted: false,
    });

    // A service that enforces it refuses `gcloud run deploy`'s PATCH of an unattested image.
    const service = `projects/${PROD}/locations/us-central1/services/api`;
    cloud.run.addService(service, "api-00001");
    cloud.run.services.get(service)!.binaryAuthorization = true;
    const patch = (img: string) =>
      fetch(`${cloud.url}/v2/${service}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ template: { containers: [{ image: img }] } }),
      });
    const refused = await patch(image(other));
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { status: string } }).error.status).toBe(
      "FAILED_PRECONDITION",
    );
    expect((await patch(image(digest))).status).toBe(200);
    expect(cloud.run.services.get(service)!.revisions).toHaveLength(2);

    // Dry run: logged, not blocked.
    expect((await policy("DRYRUN_AUDIT_LOG_ONLY")).status).toBe(200);
    expect(cloud.binauthz.admits(PROD, image(other))).toEqual({ admitted: true });
    // A policy naming an attestor that does not exist is refused.
    const missing = await fetch(`${cloud.url}/v1/projects/${PROD}/policy`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        defaultAdmissionRule: {
          evaluationMode: "REQUIRE_ATTESTATION",
          enforcementMode: "ENFORCED_BLOCK_AND_AUDIT_LOG",
          requireAttestationsBy: [`projects/${PROD}/attestors/nobody`],
        },
      }),
    });
    expect(missing.status).toBe(400);
  });
});

describe("the step's codec", () => {
  const step = {
    ref: `us-central1-docker.pkg.dev/${PROD}/apps/api@sha256:${"d".repeat(64)}`,
    attestor: ATTESTOR,
    commit: COMMIT,
    stack: "staging",
  };

  it("round-trips, and the offline plan and policy pack read the same fields", () => {
    expect(decodeAttestStep(encodeAttestStep(step))).toEqual(step);
    expect(decodeAttestStep("node_modules/.bin/tsx scripts/sign-image.ts x")).toBeUndefined();
  });

  it("refuses what the step could not use, naming it", () => {
    const args = encodeAttestStep(step).split(" ").slice(2);
    expect(decodeAttestArgs(args.map((a) => (a === ATTESTOR ? "multicloud-deploy" : a)))).toEqual({
      problem: "--attestor multicloud-deploy: expected projects/<project>/attestors/<name>",
    });
    expect(decodeAttestArgs(args.slice(1))).toMatchObject({
      problem: expect.stringContaining("pinned by digest"),
    });
    expect(decodeAttestArgs(args.slice(0, 3))).toEqual({ problem: "--signed-for is required" });
  });
});
