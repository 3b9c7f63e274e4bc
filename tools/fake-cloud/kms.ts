/**
 * Cloud KMS and AWS KMS signing keys (ECDSA P-256, SHA-256), as the signing step meets them, by their
 * real host names (cloudkms.googleapis.com, kms.<region>.amazonaws.com). Real keys: each is a P-256 key
 * pair made here, so what they sign verifies with their public key, by the product and by cosign.
 *
 * Google (REST v1, googleapis google/cloud/kms/v1/service.proto, resources.proto; "Verifying end-to-end
 * data integrity" in the Cloud KMS docs):
 * - `POST /v1/{cryptoKeyVersion}:asymmetricSign` with `digest.sha256` (32 bytes, base64) and
 *   `digestCrc32c` (a decimal int64 string): a digest whose CRC32C is not `digestCrc32c` is refused 400
 *   `INVALID_ARGUMENT`; otherwise `signature` (DER, base64), `signatureCrc32c`, `verifiedDigestCrc32c:
 *   true`, `name` and `protectionLevel`.
 * - `GET /v1/{cryptoKeyVersion}/publicKey`: `pem`, `pemCrc32c`, `algorithm` (`EC_SIGN_P256_SHA256`),
 *   `name`, `protectionLevel`.
 * - A caller without `cloudkms.cryptoKeyVersions.useToSign` (or `viewPublicKey`) on the key, or a key
 *   that does not exist, gets 403 `PERMISSION_DENIED` "Permission '…' denied on resource '…' (or it may
 *   not exist)." (IAM's answer for both, so a caller learns nothing about keys it may not use).
 *
 * AWS (awsJson1_1, `X-Amz-Target: TrentService.<Op>`, AWS KMS API reference):
 * - `Sign` (`KeyId` an id, ARN, alias name or alias ARN; `Message` base64; `MessageType: DIGEST`;
 *   `SigningAlgorithm: ECDSA_SHA_256`): `KeyId` (the key ARN), `Signature` (DER, base64),
 *   `SigningAlgorithm`. A digest that is not 32 bytes is `ValidationException`; an unknown alias is
 *   `NotFoundException` ("Alias arn:aws:kms:…:alias/… is not found."); a key of another account the
 *   caller may not use is `AccessDeniedException`.
 * - `GetPublicKey`: `KeyId`, `PublicKey` (DER SPKI, base64), `KeySpec: ECC_NIST_P256`, `KeyUsage:
 *   SIGN_VERIFY`, `SigningAlgorithms: [ECDSA_SHA_256]`.
 *
 * Where the texts come from: `digest_crc32c`'s field doc says only that "KeyManagementService will report
 * an error if the checksum verification fails" (AsymmetricSignRequest, service.proto): the 400
 * INVALID_ARGUMENT and its message here are this fake's, as are AWS's `ValidationException` text for a
 * digest of the wrong length and the `AccessDeniedException` text. The exception names are the API
 * reference's (Sign, GetPublicKey: NotFoundException, InvalidKeyUsageException, KMSInternalException);
 * the product's tests assert these texts only against this fake, never as a cloud's words.
 *
 * Each call is counted (`calls`) and can be told to fail (`failNext`), as the other fakes can.
 */
import { crc32c } from "@aws-crypto/crc32c";
import { awsDenied, bearerToken, googleDenied } from "./auth";
import { p256 } from "@noble/curves/nist.js";
import { generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import type * as http from "node:http";
import { googleError } from "./cloud-run";
import type { JsonBody, Reply } from "./http";

interface KeyPair {
  privateKey: KeyObject;
  publicKeyPem: string;
  publicKeyDer: Buffer;
}

function keyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    privateKey,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    publicKeyDer: publicKey.export({ type: "spki", format: "der" }),
  };
}

const crc = (b: Buffer | string) => String(crc32c(typeof b === "string" ? Buffer.from(b) : b) >>> 0);
/**
 * What KMS signs: the digest as given (it is not hashed again), ECDSA in DER. node:crypto hashes what it
 * signs, so @noble/curves signs the digest itself (`prehash: false`).
 */
const signDigest = (key: KeyObject, digest: Buffer) =>
  Buffer.from(
    p256.sign(digest, Buffer.from(key.export({ format: "jwk" }).d!, "base64url"), {
      prehash: false,
      format: "der",
    }),
  );

export interface GoogleKey extends KeyPair {
  /** Principals (the refresh tokens their access tokens were issued for) allowed to sign. */
  signers: string[];
}
export interface AwsKey extends KeyPair {
  arn: string;
  account: string;
  /** Accounts allowed to use the key (its own, by the key policy). */
  users: string[];
}

export type KmsCall = { api: "gcp" | "aws"; op: string; key: string; caller: string };

export class KmsApi {
  readonly google = new Map<string, GoogleKey>();
  /** By key ARN; `aliases` maps alias ARNs to them. */
  readonly aws = new Map<string, AwsKey>();
  private readonly aliases = new Map<string, string>();
  readonly calls: KmsCall[] = [];
  /** The next call of this op answers this error status instead (then the plan is spent). */
  failNext?: { op: "asymmetricSign" | "Sign"; status: 429 | 503 };

  constructor(
    private readonly googlePrincipal: (token: string) => string | undefined,
    private readonly awsAccount: (accessKeyId: string) => string | undefined,
  ) {}

  /** A Cloud KMS key version (`projects/…/cryptoKeyVersions/N`) that `signers` may use. */
  addGoogleKey(version: string, signers: string[]): GoogleKey {
    const key = { ...keyPair(), signers };
    this.google.set(version, key);
    return key;
  }

  /** An AWS KMS key in `account`, with an alias (`alias/…`). */
  addAwsKey(account: string, region: string, alias: string): AwsKey {
    const arn = `arn:aws:kms:${region}:${account}:key/${randomUUID()}`;
    const key = { ...keyPair(), arn, account, users: [account] };
    this.aws.set(arn, key);
    this.aliases.set(`arn:aws:kms:${region}:${account}:${alias}`, arn);
    return key;
  }

  handle(req: http.IncomingMessage, method: string, path: string, body: JsonBody, reply: Reply): boolean {
    // By path (a key version's), so a test may reach it on loopback as the clients reach the real host.
    if (/^\/v1\/projects\/.+\/cryptoKeyVersions\/\d+(:asymmetricSign|\/publicKey)$/.test(path))
      return this.handleGoogle(req, method, path, body, reply);
    const target = String(req.headers["x-amz-target"] ?? "");
    if (target.startsWith("TrentService.")) return this.handleAws(req, target.slice(13), body, reply);
    return false;
  }

  private handleGoogle(
    req: http.IncomingMessage,
    method: string,
    path: string,
    body: JsonBody,
    reply: Reply,
  ): boolean {
    const m = /^\/v1\/(projects\/[^:]+?)(:asymmetricSign|\/publicKey)$/.exec(path);
    if (!m) return false;
    const [, name, what] = m as unknown as [string, string, string];
    const caller = this.googlePrincipal(bearerToken(req)) ?? "";
    const op = what === ":asymmetricSign" ? "asymmetricSign" : "getPublicKey";
    this.calls.push({ api: "gcp", op, key: name, caller });
    if (this.failNext?.op === op) {
      const status = this.failNext.status;
      this.failNext = undefined;
      return (reply(status, googleError(status, "fake cloud: planned failure")), true);
    }
    const key = this.google.get(name);
    const permission =
      op === "asymmetricSign"
        ? "cloudkms.cryptoKeyVersions.useToSign"
        : "cloudkms.cryptoKeyVersions.viewPublicKey";
    if (!key || !key.signers.some((s) => caller.includes(s))) return googleDenied(reply, permission, name);
    if (op === "getPublicKey" && method === "GET") {
      reply(200, {
        pem: key.publicKeyPem,
        pemCrc32c: crc(key.publicKeyPem),
        algorithm: "EC_SIGN_P256_SHA256",
        name,
        protectionLevel: "HSM",
      });
      return true;
    }
    if (method !== "POST") return false;
    const digest = Buffer.from(
      String((body.digest as { sha256?: string } | undefined)?.sha256 ?? ""),
      "base64",
    );
    if (digest.length !== 32) {
      reply(
        400,
        googleError(400, "The digest must be 32 bytes for EC_SIGN_P256_SHA256.", "INVALID_ARGUMENT"),
      );
      return true;
    }
    if (body.digestCrc32c !== undefined && String(body.digestCrc32c) !== crc(digest)) {
      reply(
        400,
        googleError(
          400,
          "The checksum in field digest_crc32c did not match the data in field digest.",
          "INVALID_ARGUMENT",
        ),
      );
      return true;
    }
    const signature = signDigest(key.privateKey, digest);
    reply(200, {
      signature: signature.toString("base64"),
      signatureCrc32c: crc(signature),
      verifiedDigestCrc32c: body.digestCrc32c !== undefined,
      name,
      protectionLevel: "HSM",
    });
    return true;
  }

  private handleAws(req: http.IncomingMessage, op: string, body: JsonBody, reply: Reply): boolean {
    const json = { "content-type": "application/x-amz-json-1.1" };
    const fail = (status: number, type: string, message: string) => (
      reply(status, { __type: type, message }, json),
      true
    );
    // SigV4's credential scope: `Credential=<key id>/<date>/<region>/kms/aws4_request` (not checked further).
    const [keyId = "", , region = ""] =
      /Credential=([^,\s]+)/.exec(String(req.headers.authorization ?? ""))?.[1]?.split("/") ?? [];
    const account = this.awsAccount(keyId);
    this.calls.push({ api: "aws", op, key: String(body.KeyId ?? ""), caller: account ?? "" });
    if (!account)
      return fail(
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
      );
    if (this.failNext?.op === op) {
      const status = this.failNext.status;
      this.failNext = undefined;
      return status === 429
        ? fail(400, "ThrottlingException", "Rate exceeded")
        : fail(500, "KMSInternalException", "fake cloud: planned failure");
    }
    const ref = String(body.KeyId ?? "");
    const arn = ref.startsWith("alias/")
      ? this.aliases.get(`arn:aws:kms:${region}:${account}:${ref}`)
      : ref.startsWith("arn:aws:kms:") && ref.includes(":alias/")
        ? this.aliases.get(ref)
        : ref.startsWith("arn:")
          ? ref
          : [...this.aws.keys()].find((a) => a.endsWith(`/${ref}`));
    if (!arn) {
      return ref.includes("alias/")
        ? fail(
            400,
            "NotFoundException",
            `Alias ${ref.startsWith("arn:") ? ref : `arn:aws:kms:${region}:${account}:${ref}`} is not found.`,
          )
        : fail(400, "NotFoundException", `Key '${ref}' does not exist`);
    }
    const key = this.aws.get(arn);
    if (!key || !key.users.includes(account)) return awsDenied(reply, account, `kms:${op}`, arn);
    if (op === "GetPublicKey") {
      reply(
        200,
        {
          KeyId: arn,
          PublicKey: key.publicKeyDer.toString("base64"),
          KeySpec: "ECC_NIST_P256",
          CustomerMasterKeySpec: "ECC_NIST_P256",
          KeyUsage: "SIGN_VERIFY",
          SigningAlgorithms: ["ECDSA_SHA_256"],
        },
        json,
      );
      return true;
    }
    if (op === "Sign") {
      if (body.SigningAlgorithm !== "ECDSA_SHA_256")
        return fail(
          400,
          "InvalidKeyUsageException",
          `${String(body.SigningAlgorithm)} is not valid for ${arn}`,
        );
      const message = Buffer.from(String(body.Message ?? ""), "base64");
      if (body.MessageType !== "DIGEST")
        return fail(400, "ValidationException", "this fake signs digests only: send MessageType DIGEST");
      if (message.length !== 32)
        return fail(400, "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.");
      reply(
        200,
        {
          KeyId: arn,
          Signature: signDigest(key.privateKey, message).toString("base64"),
          SigningAlgorithm: "ECDSA_SHA_256",
        },
        json,
      );
      return true;
    }
    return fail(400, "UnknownOperationException", `fake cloud: no KMS operation ${op}`);
  }
}
