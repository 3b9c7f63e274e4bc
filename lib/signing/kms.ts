/**
 * Signing keys in a cloud KMS, ECDSA P-256 with SHA-256, behind one small interface: the signing step
 * hands over sha256(payload) and gets back a DER signature, which is what cosign verifies
 * (sigstore `pkg/signature/ecdsa.go`, `VerifyASN1`); the public key is SPKI PEM, what `cosign verify
 * --key` and prod's pinned config take.
 *
 * - **Google Cloud KMS** (REST v1, googleapis google/cloud/kms/v1/service.proto): `POST
 *   https://cloudkms.googleapis.com/v1/{cryptoKeyVersion}:asymmetricSign` with `digest.sha256` and
 *   `digestCrc32c`; the answer's `verifiedDigestCrc32c` must be true, its `name` the version asked, and
 *   CRC32C(`signature`) its `signatureCrc32c` ("Verifying end-to-end data integrity", as sigstore's
 *   `pkg/signature/kms/gcp/client.go` checks). `GET …/{cryptoKeyVersion}/publicKey` gives `pem`, checked
 *   against `pemCrc32c`, and `algorithm`, which must be `EC_SIGN_P256_SHA256`. A version is required:
 *   prod pins the public key of exactly one.
 * - **AWS KMS** (`@aws-sdk/client-kms`): `Sign` with `MessageType: DIGEST` and `ECDSA_SHA_256`, and
 *   `GetPublicKey`, whose DER SPKI becomes PEM; its `KeySpec` must be `ECC_NIST_P256` and `KeyUsage`
 *   `SIGN_VERIFY` (AWS KMS API reference, Sign and GetPublicKey).
 */
import { crc32c } from "@aws-crypto/crc32c";
import { GetPublicKeyCommand, SignCommand, type KMSClient } from "@aws-sdk/client-kms";
import { createPublicKey } from "node:crypto";
import type { HttpClient } from "../release/cloud-run";
import { GCP_KMS_KEY_VERSION } from "./keys";
import type { SigningKey } from "./step";

export interface Signer {
  /** The key as the config names it, for logs and messages. */
  readonly key: string;
  /** The public key, SPKI PEM. */
  publicKeyPem(): Promise<string>;
  /** A DER ECDSA signature of a SHA-256 digest. */
  signDigest(digest: Buffer): Promise<Buffer>;
}

const REQUEST_TIMEOUT_MS = 30_000;

const crc = (b: Buffer | string) => String(crc32c(typeof b === "string" ? Buffer.from(b) : b) >>> 0);

export function gcpKmsSigner(
  keyVersion: string,
  http: HttpClient,
  endpoint = "https://cloudkms.googleapis.com",
): Signer {
  if (!GCP_KMS_KEY_VERSION.test(keyVersion)) throw new Error(`not a Cloud KMS key version: ${keyVersion}`);
  const base = `${endpoint.replace(/\/$/, "")}/v1/${keyVersion}`;
  return {
    key: keyVersion,
    async publicKeyPem() {
      const { data } = await http.request<{ pem?: string; pemCrc32c?: string; algorithm?: string }>({
        url: `${base}/publicKey`,
        timeout: REQUEST_TIMEOUT_MS,
      });
      if (data.algorithm !== "EC_SIGN_P256_SHA256")
        throw new Error(`${keyVersion} is ${data.algorithm}, not EC_SIGN_P256_SHA256`);
      if (!data.pem || (data.pemCrc32c !== undefined && data.pemCrc32c !== crc(data.pem)))
        throw new Error(`${keyVersion}: the public key arrived damaged (CRC32C mismatch)`);
      return data.pem;
    },
    async signDigest(digest) {
      const { data } = await http.request<{
        signature?: string;
        signatureCrc32c?: string;
        verifiedDigestCrc32c?: boolean;
        name?: string;
      }>({
        url: `${base}:asymmetricSign`,
        method: "POST",
        data: { digest: { sha256: digest.toString("base64") }, digestCrc32c: crc(digest) },
        timeout: REQUEST_TIMEOUT_MS,
      });
      const signature = Buffer.from(data.signature ?? "", "base64");
      if (
        data.verifiedDigestCrc32c !== true ||
        data.name !== keyVersion ||
        data.signatureCrc32c !== crc(signature)
      )
        throw new Error(
          `${keyVersion}: asymmetricSign's answer failed its integrity checks; nothing was signed`,
        );
      return signature;
    },
  };
}

export function awsKmsSigner(keyId: string, client: Pick<KMSClient, "send">): Signer {
  return {
    key: keyId,
    async publicKeyPem() {
      const out = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
      if (out.KeySpec !== "ECC_NIST_P256" || out.KeyUsage !== "SIGN_VERIFY")
        throw new Error(`${keyId} is ${out.KeySpec} for ${out.KeyUsage}, not ECC_NIST_P256 for SIGN_VERIFY`);
      return createPublicKey({ key: Buffer.from(out.PublicKey!), format: "der", type: "spki" })
        .export({ format: "pem", type: "spki" })
        .toString();
    },
    async signDigest(digest) {
      const out = await client.send(
        new SignCommand({
          KeyId: keyId,
          Message: digest,
          MessageType: "DIGEST",
          SigningAlgorithm: "ECDSA_SHA_256",
        }),
      );
      return Buffer.from(out.Signature!);
    },
  };
}

/** The signer of a key, with the deployer's ambient identity (each cloud's SDK loaded only when used). */
export async function ambientSigner(key: SigningKey): Promise<Signer> {
  if (key.cloud === "gcp") {
    const { GoogleAuth } = await import("google-auth-library");
    const client = await new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloudkms"] }).getClient();
    return gcpKmsSigner(key.keyVersion, client as unknown as HttpClient);
  }
  const { KMSClient } = await import("@aws-sdk/client-kms");
  return awsKmsSigner(key.keyId, new KMSClient({ region: key.region }));
}
