/**
 * How keys are named and recognised (pure): config validation, the sign step's codec and the KMS
 * clients share these, so a key the config accepts is one the step can use.
 */
import { createPublicKey } from "node:crypto";

/** A Cloud KMS key version: `projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>/cryptoKeyVersions/<n>`. */
export const GCP_KMS_KEY_VERSION =
  /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/locations\/[a-z0-9-]+\/keyRings\/[A-Za-z0-9_-]{1,63}\/cryptoKeys\/[A-Za-z0-9_-]{1,63}\/cryptoKeyVersions\/[1-9]\d*$/;
export const EXAMPLE_GCP_KEY =
  "projects/acme-apps-staging/locations/us-central1/keyRings/multicloud-deploy/cryptoKeys/image-signing/cryptoKeyVersions/1";
/** An AWS KMS key: an id, a key ARN, `alias/<name>` or an alias ARN (AWS KMS API reference, `KeyId`). */
export const AWS_KMS_KEY =
  /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|alias\/[A-Za-z0-9/_-]{1,250}|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key\/[A-Za-z0-9-]+|alias\/[A-Za-z0-9/_-]{1,250}))$/;

/** The region an AWS KMS key ARN (or alias ARN) names; undefined for an id or `alias/<name>`. */
export function kmsKeyRegion(keyId: string): string | undefined {
  return /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(keyId)?.[1];
}

/** Whether `pem` is an ECDSA P-256 public key (what both clouds' keys give, and cosign verifies). */
export function isP256PublicKey(pem: string): boolean {
  try {
    const key = createPublicKey(pem);
    return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
  } catch {
    return false;
  }
}
