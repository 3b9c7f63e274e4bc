/**
 * The signing step's contract, written once (as lib/release/step.ts is for the release step): the
 * component encodes {@link SignStep}, scripts/sign-image.ts decodes it, and the offline plan and the
 * policy pack read the same decoding. Every field is on the command line; a missing one is an error.
 *
 *   node_modules/.bin/tsx scripts/sign-image.ts <repo>@sha256:<hex> --key <key> --commit <sha> --stack <stack>
 *
 * where `<key>` is `gcpkms://projects/…/cryptoKeyVersions/N` or `awskms:///<key id | ARN | alias/NAME>`
 * with `--aws-region`, the URI forms sigstore uses (`pkg/signature/kms/{gcp,aws}/client.go`), so the
 * same key can be given to `cosign verify --key`.
 */
import { SIGN_IMAGE_COMMAND } from "../scripts";
import { decodeStepLine, lastValues, splitStepArgs } from "../step-args";
import { GCP_KMS_KEY_VERSION, kmsKeyRegion } from "./keys";

/** The promote step's environment variable holding the source stack's public key (PEM). */
export const SIGNATURE_KEY_VAR = "SIGNATURE_PUBLIC_KEY";

export type SigningKey =
  { cloud: "gcp"; keyVersion: string } | { cloud: "aws"; keyId: string; region: string };

export interface SignStep {
  /** `repo@sha256:<hex>`: the verified image. */
  ref: string;
  key: SigningKey;
  /** The commit the image was built at: the `commit` claim. */
  commit: string;
  /** The stack that signs: the `stack` claim. */
  stack: string;
}

/** sigstore's URI for a key. */
export function keyUri(key: SigningKey): string {
  return key.cloud === "gcp" ? `gcpkms://${key.keyVersion}` : `awskms:///${key.keyId}`;
}

/** A key URI back; a problem when it is neither form. */
export function parseKeyUri(uri: string, region?: string): SigningKey | { problem: string } {
  if (uri.startsWith("gcpkms://")) {
    const keyVersion = uri.slice("gcpkms://".length);
    return GCP_KMS_KEY_VERSION.test(keyVersion)
      ? { cloud: "gcp", keyVersion }
      : {
          problem: `${uri}: expected gcpkms://projects/…/cryptoKeys/…/cryptoKeyVersions/<n> (a pinned version)`,
        };
  }
  const m = /^awskms:\/\/\/(.+)$/.exec(uri);
  if (m) {
    const keyId = m[1]!;
    const r = kmsKeyRegion(keyId) ?? region;
    return r
      ? { cloud: "aws", keyId, region: r }
      : { problem: `${uri}: give --aws-region (the key is not an ARN)` };
  }
  return { problem: `${uri}: expected gcpkms://… or awskms:///…` };
}

export function encodeSignStep(s: SignStep): string {
  return [
    SIGN_IMAGE_COMMAND,
    s.ref,
    "--key",
    keyUri(s.key),
    ...(s.key.cloud === "aws" ? ["--aws-region", s.key.region] : []),
    "--commit",
    s.commit,
    "--stack",
    s.stack,
  ].join(" ");
}

/** The step's fields from its arguments (after the command); a problem names what is missing. */
export function decodeSignArgs(args: readonly string[]): SignStep | { problem: string } {
  const split = splitStepArgs(args);
  const flags = lastValues(split.flags);
  const positional = split.positional;
  if (positional.length !== 1 || !/^[^@\s]+@sha256:[0-9a-f]{64}$/.test(positional[0]!))
    return { problem: "expected one image reference pinned by digest: <repo>@sha256:<hex>" };
  for (const f of ["key", "commit", "stack"]) if (!flags[f]) return { problem: `--${f} is required` };
  const key = parseKeyUri(flags.key!, flags["aws-region"]);
  if ("problem" in key) return key;
  return { ref: positional[0]!, key, commit: flags.commit!, stack: flags.stack! };
}

/** A sign step's command line back; undefined when it is not one. */
export function decodeSignStep(text: string): SignStep | undefined {
  return decodeStepLine(text, "sign-image", decodeSignArgs);
}
