/**
 * The scan gate step's contract, written once (as lib/signing/step.ts is for signing): the component
 * encodes {@link ScanStep}, scripts/scan-gate.ts decodes it, and the offline plan and the policy pack
 * read the same decoding. Every field is on the command line; a missing one is an error.
 *
 *   node_modules/.bin/tsx scripts/scan-gate.ts <repo>@sha256:<hex> --max-critical 0 [--max-high 5]
 *     [--max-medium 20] --deadline-seconds 900 [--allow CVE-2023-0286:2027-01-31 …] [--allow-unscanned]
 *
 * An allow-list entry's reason stays in the stack file: the command line carries the id and expiry.
 */
import { parseImageRef } from "../image-ref";
import { decodeStepLine, splitStepArgs } from "../step-args";
import { SCAN_GATE_COMMAND } from "../scripts";
import type { ScanGate } from "./gate";

export interface ScanStep {
  /** `repo@sha256:<hex>`: the verified image, in the registry that scans it. */
  ref: string;
  gate: ScanGate;
}

/** Which registry scans an image, from its host. */
export type ScannedBy =
  | { registry: "ecr"; registryId: string; region: string; repositoryName: string }
  | { registry: "artifact-registry"; project: string; reference: string };

/** The scanner of `repo` (`host/path`), or a problem naming what it takes. */
export function scannerOf(repo: string): ScannedBy | { problem: string } {
  const { registry: host, repository: rest } = parseImageRef(repo);
  const ecr = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host);
  if (ecr) return { registry: "ecr", registryId: ecr[1]!, region: ecr[2]!, repositoryName: rest };
  if (/^[a-z0-9-]+-docker\.pkg\.dev$/.test(host) && rest.split("/").length >= 3)
    return { registry: "artifact-registry", project: rest.split("/")[0]!, reference: repo };
  return {
    problem: `${repo}: only ECR (<account>.dkr.ecr.<region>.amazonaws.com) and Artifact Registry (<location>-docker.pkg.dev/<project>/<repository>/<image>) images are scanned`,
  };
}

export function encodeScanStep(s: ScanStep): string {
  return [SCAN_GATE_COMMAND, s.ref, ...scanFlags(s.gate)].join(" ");
}

/** A gate's flags, as scan-gate and the release step (lib/release/step.ts) take them. */
export function scanFlags(g: ScanGate): string[] {
  return [
    "--max-critical",
    String(g.maxCritical),
    ...(g.maxHigh === undefined ? [] : ["--max-high", String(g.maxHigh)]),
    ...(g.maxMedium === undefined ? [] : ["--max-medium", String(g.maxMedium)]),
    "--deadline-seconds",
    String(g.deadlineSeconds),
    ...g.allow.flatMap((a) => ["--allow", `${a.id}:${a.expires}`]),
    ...(g.allowUnscanned ? ["--allow-unscanned"] : []),
  ];
}

/** The flags scanFlags writes, by name; `allow-unscanned` takes no value. */
export const SCAN_FLAGS = [
  "max-critical",
  "max-high",
  "max-medium",
  "deadline-seconds",
  "allow",
  "allow-unscanned",
];

const COUNT = /^\d+$/;

/** The step's fields from its arguments (after the command); a problem names the flag. */
export function decodeScanArgs(args: readonly string[]): ScanStep | { problem: string } {
  const { flags, positional } = splitStepArgs(args, ["allow-unscanned"]);
  if (positional.length !== 1 || !/^[^@\s]+@sha256:[0-9a-f]{64}$/.test(positional[0]!))
    return { problem: "expected one image reference pinned by digest: <repo>@sha256:<hex>" };
  const unknown = [...flags.keys()].find((k) => !SCAN_FLAGS.includes(k));
  if (unknown)
    return {
      problem: `--${unknown} is not a scan-gate flag; expected ${SCAN_FLAGS.map((k) => `--${k}`).join(", ")}`,
    };
  const one = (k: string) => flags.get(k)?.at(-1);
  for (const k of ["max-critical", "deadline-seconds"])
    if (one(k) === undefined) return { problem: `--${k} is required` };
  for (const k of ["max-critical", "max-high", "max-medium", "deadline-seconds"]) {
    const v = one(k);
    if (v !== undefined && !COUNT.test(v)) return { problem: `--${k} ${v}: expected a whole number` };
  }
  const allow: { id: string; expires: string }[] = [];
  for (const a of flags.get("allow") ?? []) {
    const m = /^(\S+):(\d{4}-\d{2}-\d{2})$/.exec(a);
    if (!m) return { problem: `--allow ${a}: expected <vulnerability id>:<YYYY-MM-DD>` };
    allow.push({ id: m[1]!, expires: m[2]! });
  }
  const num = (k: string) => (one(k) === undefined ? undefined : Number(one(k)));
  return {
    ref: positional[0]!,
    gate: {
      maxCritical: num("max-critical")!,
      ...(num("max-high") === undefined ? {} : { maxHigh: num("max-high") }),
      ...(num("max-medium") === undefined ? {} : { maxMedium: num("max-medium") }),
      deadlineSeconds: num("deadline-seconds")!,
      allow,
      allowUnscanned: flags.has("allow-unscanned"),
    },
  };
}

/** A scan step's command line back; undefined when it is not one. */
export function decodeScanStep(text: string): ScanStep | undefined {
  return decodeStepLine(text, "scan-gate", decodeScanArgs);
}
