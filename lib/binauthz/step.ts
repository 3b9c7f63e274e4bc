/**
 * The attestation step's contract, written once (as lib/signing/step.ts is for signing): the component
 * encodes {@link AttestStep}, scripts/attest-image.ts decodes it, and the offline plan reads the same
 * decoding (the policy pack knows the step by its marker only, policy/core.ts STEPS).
 *
 *   node_modules/.bin/tsx scripts/attest-image.ts <host>/<project>/<repo>/<image>@sha256:<hex>
 *     --attestor projects/<p>/attestors/<a> --signed-for <commit> --signed-by <stack>
 *
 * The public key that must have signed is the promote step's, in SIGNATURE_PUBLIC_KEY (PEM).
 */
import { ATTEST_IMAGE_COMMAND } from "../scripts";
import { decodeStepLine, lastValues, splitStepArgs } from "../step-args";

/** An attestor's resource name (Binary Authorization REST v1 `Attestor.name`). */
export const ATTESTOR_NAME = /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/attestors\/[A-Za-z0-9_-]{1,100}$/;

export interface AttestStep {
  /** `host/project/repo/image@sha256:<hex>`: the image Cloud Run will run. */
  ref: string;
  /** `projects/<p>/attestors/<a>`. */
  attestor: string;
  /** The commit the signature must claim. */
  commit: string;
  /** The stack that must have signed. */
  stack: string;
}

export function encodeAttestStep(s: AttestStep): string {
  return [
    ATTEST_IMAGE_COMMAND,
    s.ref,
    "--attestor",
    s.attestor,
    "--signed-for",
    s.commit,
    "--signed-by",
    s.stack,
  ].join(" ");
}

/** The step's fields from its arguments (after the command); a problem names what is wrong. */
export function decodeAttestArgs(args: readonly string[]): AttestStep | { problem: string } {
  const split = splitStepArgs(args);
  const flags = lastValues(split.flags);
  const positional = split.positional;
  if (positional.length !== 1 || !/^[^@\s/]+\/[^@\s/]+\/[^@\s]+@sha256:[0-9a-f]{64}$/.test(positional[0]!))
    return {
      problem:
        "expected one Artifact Registry image pinned by digest: <host>/<project>/<repo>/<image>@sha256:<hex>",
    };
  for (const f of ["attestor", "signed-for", "signed-by"])
    if (!flags[f]) return { problem: `--${f} is required` };
  if (!ATTESTOR_NAME.test(flags.attestor!))
    return { problem: `--attestor ${flags.attestor}: expected projects/<project>/attestors/<name>` };
  return {
    ref: positional[0]!,
    attestor: flags.attestor!,
    commit: flags["signed-for"]!,
    stack: flags["signed-by"]!,
  };
}

/** An attest step's command line back; undefined when it is not one. */
export function decodeAttestStep(text: string): AttestStep | undefined {
  return decodeStepLine(text, "attest-image", decodeAttestArgs);
}
