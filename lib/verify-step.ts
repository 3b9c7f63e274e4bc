/**
 * The contract between ContainerImage and the policy pack: how a verify step (and a promotion copy)
 * is marked, and how the verify command line is written and read back. One definition; the pack,
 * which ships on its own, keeps a copy that tests/policy/parity.test.ts holds equal to this one.
 *
 * - Every step carries `MULTICLOUD_DEPLOY_STEP` in its `environment`: `verify-image` or
 *   `promote-image`. A Command's text or name proves nothing; this marker plus the dependency graph
 *   does: the pack accepts an image reference as verified only when it depends on a marked verify
 *   step which itself follows the very build (or promotion copy) the reference also comes from.
 * - The command line is `<verify-image> <repo>@sha256:<digest> --platform <os/arch> --tag <tag>`;
 *   the parser takes the flags as `--flag value` or `--flag=value`, in any order.
 */
import { HEALTH_CHECK_COMMAND, PROMOTE_IMAGE_COMMAND, VERIFY_IMAGE_COMMAND } from "./scripts";

export const STEP_MARKER = "MULTICLOUD_DEPLOY_STEP";
export const STEPS = {
  verify: "verify-image",
  promote: "promote-image",
  release: "release",
  sign: "sign-image",
  scan: "scan-gate",
  attest: "attest-image",
} as const;

export interface VerifyStep {
  /** `repo@sha256:…` */
  ref: string;
  platform: string;
  tag?: string;
}

export function verifyCommandLine(step: VerifyStep): string {
  return [
    VERIFY_IMAGE_COMMAND,
    step.ref,
    "--platform",
    step.platform,
    ...(step.tag ? ["--tag", step.tag] : []),
  ].join(" ");
}

/** Reads a verify-image command line back; undefined when it is not one. */
export function parseVerifyCommandLine(text: string): VerifyStep | undefined {
  const words = text.trim().split(/\s+/);
  const at = words.findIndex((w) => /(^|\/)verify-image(\.ts)?$/.test(w));
  if (at < 0) return undefined;
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = at + 1; i < words.length; i++) {
    const w = words[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(w);
    if (!m) positional.push(w);
    else if (m[2] !== undefined) flags[m[1]!] = m[2];
    else if (m[1] === "json") flags.json = "true";
    else flags[m[1]!] = words[++i] ?? "";
  }
  if (positional.length !== 1 || !flags.platform) return undefined;
  return { ref: positional[0]!, platform: flags.platform, ...(flags.tag ? { tag: flags.tag } : {}) };
}

/**
 * A promotion copy: `<promote-image> <source repo>@sha256:<digest> <destination repo> [--signed-for <commit> --signed-by <stack>]`.
 * With `--signed-for`, the copy requires the source stack's signature for that commit, by the public
 * key in the step's `SIGNATURE_PUBLIC_KEY` (lib/signing/step.ts), and copies it too.
 */
export interface PromoteStep {
  /** `repo@sha256:…` to copy from. */
  source: string;
  /** Repository to copy into (the same repository for a rollback, which only proves the image is there). */
  destination: string;
  /** The commit the source's signature must claim; undefined: no signature check (a rollback). */
  signedFor?: string;
  /** The stack that must have signed it (the `stack` claim); given with `signedFor`. */
  signedBy?: string;
}

export function promoteCommandLine(step: PromoteStep): string {
  return [
    PROMOTE_IMAGE_COMMAND,
    step.source,
    step.destination,
    ...(step.signedFor ? ["--signed-for", step.signedFor] : []),
    ...(step.signedBy ? ["--signed-by", step.signedBy] : []),
  ].join(" ");
}

/** Reads a promote-image command line back; undefined when it is not one. */
export function parsePromoteCommandLine(text: string): PromoteStep | undefined {
  const words = text.trim().split(/\s+/);
  const at = words.findIndex((w) => /(^|\/)promote-image(\.ts)?$/.test(w));
  if (at < 0) return undefined;
  const args: string[] = [];
  const flags: Record<string, string | undefined> = {};
  for (let i = at + 1; i < words.length; i++) {
    const w = words[i]!;
    const m = /^--(signed-for|signed-by)(?:=(.*))?$/.exec(w);
    if (m) flags[m[1]!] = m[2] ?? words[++i];
    else if (!w.startsWith("--")) args.push(w);
  }
  const { "signed-for": signedFor, "signed-by": signedBy } = flags;
  return args.length === 2
    ? {
        source: args[0]!,
        destination: args[1]!,
        ...(signedFor ? { signedFor } : {}),
        ...(signedBy ? { signedBy } : {}),
      }
    : undefined;
}

/** A health gate: `<health-check> <url> --expect <body> --attempts <n>`. */
export interface HealthCheckStep {
  url: string;
  expect: string;
  attempts: number;
}

export function healthCheckCommandLine(step: HealthCheckStep): string {
  return [HEALTH_CHECK_COMMAND, step.url, "--expect", step.expect, "--attempts", String(step.attempts)].join(
    " ",
  );
}

/** Reads a health-check command line back; undefined when it is not one. */
export function parseHealthCheckCommandLine(text: string): HealthCheckStep | undefined {
  const words = text.trim().split(/\s+/);
  const at = words.findIndex((w) => /(^|\/)health-check(\.ts)?$/.test(w));
  if (at < 0 || !words[at + 1]) return undefined;
  const flag = (name: string) => {
    const i = words.indexOf(`--${name}`, at);
    return i > 0 ? words[i + 1] : undefined;
  };
  return { url: words[at + 1]!, expect: flag("expect") ?? "", attempts: Number(flag("attempts") ?? 10) };
}
