/**
 * The project's CLIs that `local.Command`s run during `pulumi up`. Run from the project directory
 * (where `pulumi up` runs) through a relative path, so the command text is the same on every machine
 * and moving between a laptop and CI changes nothing in the plan.
 */

/** Reads an image back from the registry and checks it (scripts/verify-image.ts). */
export const VERIFY_IMAGE_COMMAND = "node_modules/.bin/tsx scripts/verify-image.ts";

/** Asks a deployed service's health endpoint until it answers healthy (scripts/health-check.ts). */
export const HEALTH_CHECK_COMMAND = "node_modules/.bin/tsx scripts/health-check.ts";

/** Copies a verified image by digest into this stack's registry (scripts/promote-image.ts). */
export const PROMOTE_IMAGE_COMMAND = "node_modules/.bin/tsx scripts/promote-image.ts";

/** Gates a new revision or version, then moves traffic to it (scripts/release.ts). */
export const RELEASE_COMMAND = "node_modules/.bin/tsx scripts/release.ts";

/** Signs a verified image's digest with a KMS key, in cosign's format (scripts/sign-image.ts). */
export const SIGN_IMAGE_COMMAND = "node_modules/.bin/tsx scripts/sign-image.ts";

/** Waits for the registry's scan of a digest and judges it (scripts/scan-gate.ts). */
export const SCAN_GATE_COMMAND = "node_modules/.bin/tsx scripts/scan-gate.ts";

/** Attests a promoted Artifact Registry image for Binary Authorization (scripts/attest-image.ts). */
export const ATTEST_IMAGE_COMMAND = "node_modules/.bin/tsx scripts/attest-image.ts";
