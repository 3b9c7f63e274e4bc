/**
 * The release step's contract, written once: {@link ReleaseStep} is what a component asks for, and
 * {@link encodeReleaseStep} / {@link decodeReleaseStep} are the one codec between it and the command
 * line `command:local:Command` runs. The components encode, scripts/release.ts decodes what it is
 * given, and the offline plan and the policy pack read the same decoding, so a default can never mean
 * one thing to the plan and another to the step: every field is written on the command line, and a
 * field missing from it is an error, never a default.
 */
import { RELEASE_COMMAND } from "../scripts";
import type { ScanGate } from "../scan/gate";
import { decodeScanArgs, SCAN_FLAGS, scanFlags } from "../scan/step";
import { keyUri, parseKeyUri, type SigningKey } from "../signing/step";
import { analysisProblems, type Analysis } from "./analysis";
import { rolloutProblems, type Rollout } from "./traffic";

/**
 * What the release checks again of the image it is about to give traffic, before its health gate
 * (docs/scanning.md, docs/signing.md): the registry's scan under the stack's gate, and the signature.
 * The release step is the only owner of traffic, and for Lambda the only place a signature can be
 * enforced ("Functions defined as container images do not support code signing").
 */
export interface ImageChecks {
  /** `repo@sha256:…`: the image the candidate runs. */
  ref: string;
  /** The stack's scan gate, judged on the scan as it is now (no wait: the scan step waited). */
  scan?: ScanGate;
  signature?: {
    commit: string;
    stack: string;
    /**
     * The repository the signature names (`docker-reference`): the signing stack's.
     * @default - unchecked (a rollback: the image and its signature were copied here long ago)
     */
    reference?: string;
    /**
     * Read the public key from this KMS key (the signing stack's own release). Unset: the key is the
     * step's SIGNATURE_PUBLIC_KEY (a promoting stack's pinned `signatureKeys`).
     */
    key?: SigningKey;
  };
}

/** The image-check flags of a release command line. */
function imageFlags(c: ImageChecks): string[] {
  const sig = c.signature;
  return [
    "--image",
    c.ref,
    ...(c.scan ? scanFlags(c.scan) : []),
    ...(sig
      ? [
          "--signed-for",
          sig.commit,
          "--signed-by",
          sig.stack,
          ...(sig.reference ? ["--signed-as", sig.reference] : []),
          ...(sig.key
            ? [
                "--signed-with",
                keyUri(sig.key),
                ...(sig.key.cloud === "aws" ? ["--aws-region", sig.key.region] : []),
              ]
            : []),
        ]
      : []),
  ];
}

const SIGNATURE_FLAGS = ["signed-for", "signed-by", "signed-as", "signed-with", "aws-region"];

/** Image checks from their flags (`--image` and the rest); problems name the flag. */
function decodeImageChecks(args: string[]): { checks?: ImageChecks; problems: string[] } {
  if (args.length === 0) return { problems: [] };
  const values = new Map<string, string>();
  const scanArgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const key = args[i]!.slice(2);
    if (key === "allow-unscanned") scanArgs.push(args[i]!);
    else if (SCAN_FLAGS.includes(key)) scanArgs.push(args[i]!, args[++i] ?? "");
    else values.set(key, args[++i] ?? "");
  }
  const ref = values.get("image");
  if (!ref || !/^[^@\s]+@sha256:[0-9a-f]{64}$/.test(ref))
    return {
      problems: ["--image <repo>@sha256:<hex> is required with the image checks (scan and signature flags)"],
    };
  const problems: string[] = [];
  let scan: ScanGate | undefined;
  if (scanArgs.length > 0) {
    const d = decodeScanArgs([ref, ...scanArgs]);
    if ("problem" in d) problems.push(d.problem);
    else scan = d.gate;
  }
  let signature: ImageChecks["signature"];
  const [commit, stack, reference, withKey] = ["signed-for", "signed-by", "signed-as", "signed-with"].map(
    (k) => values.get(k),
  );
  if (commit !== undefined || stack !== undefined || reference !== undefined || withKey !== undefined) {
    if (!commit || !stack)
      problems.push("--signed-for and --signed-by go together (with --signed-as, --signed-with)");
    else {
      const key = withKey === undefined ? undefined : parseKeyUri(withKey, values.get("aws-region"));
      if (key && "problem" in key) problems.push(`--signed-with ${key.problem}`);
      else signature = { commit, stack, ...(reference ? { reference } : {}), ...(key ? { key } : {}) };
    }
  }
  if (problems.length > 0) return { problems };
  return { checks: { ref, ...(scan ? { scan } : {}), ...(signature ? { signature } : {}) }, problems };
}

/**
 * How hard the health gate tries: `attempts` answers at most, `intervalSeconds` before the second,
 * growing linearly (3, 6, 9 … s), each request bounded by `timeoutSeconds`. A definite failure (the
 * service's own 500 twice in a row, a function error) ends the gate early (lib/health.ts).
 */
export interface GateRetry {
  attempts: number;
  intervalSeconds: number;
  timeoutSeconds: number;
}

/** The limits of each {@link GateRetry} field, for config errors and the codec. */
export const GATE_RETRY_LIMITS = {
  attempts: [1, 30],
  intervalSeconds: [1, 60],
  timeoutSeconds: [1, 300],
} as const satisfies Record<keyof GateRetry, readonly [number, number]>;

const GATE_RETRY_FLAGS = {
  attempts: "gate-attempts",
  intervalSeconds: "gate-interval-seconds",
  timeoutSeconds: "gate-timeout-seconds",
} as const satisfies Record<keyof GateRetry, string>;

/** The health gate of a Cloud Run release: none, public (no token), or with this account's identity token. */
export type CloudRunGate = "none" | "public" | { idTokenFor: string };
/** The health gate of a Lambda release: invoke the new version alone, or none. */
export type LambdaGate = "none" | "invoke";

export type ReleaseStep =
  | {
      target: "cloudrun";
      /** `projects/<p>/locations/<r>/services/<name>` (lib/names.ts cloudRunServiceName). */
      service: string;
      /** The revision being released. */
      revision: string;
      healthPath: string;
      gate: CloudRunGate;
      /** Required with a gate. */
      gateRetry?: GateRetry;
      rollout?: Rollout;
      /** Required with a gated rollout: its traffic analysis, or "off". */
      analysis?: Analysis | "off";
      image?: ImageChecks;
    }
  | {
      target: "lambda";
      /** The unqualified function ARN (its region is read from it: lib/names.ts parseLambdaArn). */
      functionArn: string;
      /** The version being released. */
      version: string;
      alias: string;
      healthPath: string;
      gate: LambdaGate;
      /** Required with a gate. */
      gateRetry?: GateRetry;
      rollout?: Rollout;
      /** Required with a gated rollout: its traffic analysis, or "off". */
      analysis?: Analysis | "off";
      image?: ImageChecks;
    };

const ANALYSIS_FLAGS = {
  maxErrorRate: "max-error-rate",
  maxP99LatencyMs: "max-p99-latency-ms",
  minRequests: "min-requests",
  tooFewRequests: "too-few-requests",
  maxHoldSeconds: "max-hold-seconds",
  delaySeconds: "metric-delay-seconds",
} as const satisfies Record<keyof Analysis, string>;

/** Whether a step's rollout is judged by traffic at all: it has steps, and a gate. */
const analysed = (step: Pick<ReleaseStep, "gate" | "rollout">) =>
  step.rollout !== undefined && step.gate !== "none";

function analysisFlags(a: Analysis | "off"): string[] {
  if (a === "off") return ["--analysis", "off"];
  return (Object.keys(ANALYSIS_FLAGS) as (keyof Analysis)[]).flatMap((k) => [
    `--${ANALYSIS_FLAGS[k]}`,
    String(a[k]),
  ]);
}

/** `--analysis off`, or every analysis flag, with a gated rollout; none otherwise. Problems name the flag. */
function decodeAnalysis(
  gatedRollout: boolean,
  values: Map<string, string>,
  problems: string[],
): Analysis | "off" | undefined {
  const flags = Object.values(ANALYSIS_FLAGS) as string[];
  const given = ["analysis", ...flags].filter((f) => values.has(f));
  if (!gatedRollout) {
    if (given.length > 0) problems.push(`--${given[0]} goes with a gated rollout (--steps and a --gate)`);
    return undefined;
  }
  if (values.get("analysis") === "off") {
    const extra = flags.find((f) => values.has(f));
    if (extra) problems.push(`--${extra} contradicts --analysis off`);
    return "off";
  }
  if (values.has("analysis")) {
    problems.push(`--analysis ${values.get("analysis")}: the only value is off (or give the analysis flags)`);
    return undefined;
  }
  const a: Record<string, unknown> = {};
  let missing = false;
  for (const k of Object.keys(ANALYSIS_FLAGS) as (keyof Analysis)[]) {
    const v = values.get(ANALYSIS_FLAGS[k]);
    if (v === undefined) {
      problems.push(
        `--${ANALYSIS_FLAGS[k]} is missing (a gated rollout says how its traffic is judged, or --analysis off)`,
      );
      missing = true;
    } else a[k] = k === "tooFewRequests" ? v : /^[\d.e+-]+$/i.test(v) ? Number(v) : NaN;
  }
  if (missing) return undefined;
  const found = analysisProblems(a as unknown as Analysis).map((p) => {
    const k = p.split(" ")[0] as keyof Analysis;
    return `--${ANALYSIS_FLAGS[k]}${p.slice(k.length)}`;
  });
  problems.push(...found);
  return found.length > 0 ? undefined : (a as unknown as Analysis);
}

const gateWord = (gate: CloudRunGate | LambdaGate) =>
  typeof gate === "string" ? gate : `id-token:${gate.idTokenFor}`;

/** `<release> cloudrun <service> --revision … --gate …` or `<release> lambda <arn> --version … --alias …`. */
export function encodeReleaseStep(step: ReleaseStep): string {
  // The decoder requires them with a gate: a line it would refuse is never written.
  if (step.gate !== "none" && step.gateRetry === undefined)
    throw new Error("encodeReleaseStep: a gated step needs gateRetry (the components apply their defaults)");
  if (analysed(step) !== (step.analysis !== undefined))
    throw new Error(
      'encodeReleaseStep: a gated rollout needs analysis (settings or "off"), and nothing else takes one',
    );
  const rollout = step.rollout
    ? ["--steps", step.rollout.steps.join(","), "--wait-seconds", String(step.rollout.waitSeconds)]
    : [];
  const words =
    step.target === "cloudrun"
      ? [RELEASE_COMMAND, "cloudrun", step.service, "--revision", step.revision]
      : [RELEASE_COMMAND, "lambda", step.functionArn, "--version", step.version, "--alias", step.alias];
  return [
    ...words,
    "--health-path",
    step.healthPath,
    "--gate",
    gateWord(step.gate),
    ...(step.gate !== "none" && step.gateRetry
      ? (Object.keys(GATE_RETRY_FLAGS) as (keyof GateRetry)[]).flatMap((k) => [
          `--${GATE_RETRY_FLAGS[k]}`,
          String(step.gateRetry![k]),
        ])
      : []),
    ...rollout,
    ...(step.analysis ? analysisFlags(step.analysis) : []),
    ...(step.image ? imageFlags(step.image) : []),
  ].join(" ");
}

const RETRY_FLAGS = Object.values(GATE_RETRY_FLAGS);
const ROLLOUT_FLAGS = ["steps", "wait-seconds", "analysis", ...Object.values(ANALYSIS_FLAGS)] as const;
const FLAGS = {
  cloudrun: ["revision", "health-path", "gate", ...RETRY_FLAGS, ...ROLLOUT_FLAGS, "image"],
  lambda: ["version", "alias", "health-path", "gate", ...RETRY_FLAGS, ...ROLLOUT_FLAGS, "image"],
} as const;

/** The gate's retry flags: all three with a gate, none without one; problems name the flag. */
function decodeGateRetry(
  gate: string,
  values: Map<string, string>,
  problems: string[],
): GateRetry | undefined {
  const given = (Object.keys(GATE_RETRY_FLAGS) as (keyof GateRetry)[]).filter((k) =>
    values.has(GATE_RETRY_FLAGS[k]),
  );
  if (gate === "none") {
    if (given.length > 0) problems.push(`--${GATE_RETRY_FLAGS[given[0]!]} goes with a gate, not --gate none`);
    return undefined;
  }
  const retry: Partial<GateRetry> = {};
  for (const k of Object.keys(GATE_RETRY_FLAGS) as (keyof GateRetry)[]) {
    const flag = GATE_RETRY_FLAGS[k];
    const v = values.get(flag);
    const [min, max] = GATE_RETRY_LIMITS[k];
    if (v === undefined) problems.push(`--${flag} is missing (a gate says how hard it tries)`);
    else if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
      problems.push(`--${flag} ${v}: expected a whole number from ${min} to ${max}`);
    else retry[k] = Number(v);
  }
  return Object.keys(retry).length === 3 ? (retry as GateRetry) : undefined;
}

export type Decoded = { step: ReleaseStep; problems?: undefined } | { step?: undefined; problems: string[] };

/**
 * Reads a release step from its arguments (`cloudrun <service> --revision …`, as scripts/release.ts
 * receives them). Every problem is reported, each naming the flag and what it takes.
 */
export function decodeReleaseArgs(args: readonly string[]): Decoded {
  const [kind, name, ...rest] = args;
  if (kind !== "cloudrun" && kind !== "lambda")
    return { problems: [`the first argument is ${JSON.stringify(kind ?? "")}; expected cloudrun or lambda`] };
  // The image checks' flags first (some repeat, one takes no value); the rest are `--flag value` pairs.
  const imageArgs: string[] = [];
  const pairs: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const key = rest[i]!.replace(/^--/, "");
    if (!rest[i]!.startsWith("--")) pairs.push(rest[i]!);
    else if (key === "allow-unscanned") imageArgs.push(rest[i]!);
    else if (key === "image" || SCAN_FLAGS.includes(key) || SIGNATURE_FLAGS.includes(key))
      imageArgs.push(rest[i]!, rest[++i] ?? "");
    else pairs.push(rest[i]!);
  }
  const image = decodeImageChecks(imageArgs);
  const problems: string[] = [...image.problems];
  if (!name || name.startsWith("--"))
    problems.push(
      kind === "cloudrun"
        ? "give the service as projects/<project>/locations/<region>/services/<name>"
        : "give the unqualified function ARN",
    );
  const values = new Map<string, string>();
  for (let i = name?.startsWith("--") ? 1 : 0; i < pairs.length; i += 2) {
    const flag = pairs[i]!;
    const value = pairs[i + 1];
    const key = flag.replace(/^--/, "");
    if (!flag.startsWith("--") || !(FLAGS[kind] as readonly string[]).includes(key)) {
      problems.push(
        `${flag} is not a ${kind} release flag; expected ${FLAGS[kind].map((f) => `--${f}`).join(", ")}`,
      );
      continue;
    }
    if (value === undefined || value.startsWith("--")) {
      problems.push(`--${key} needs a value`);
      i--;
      continue;
    }
    values.set(key, value);
  }
  const need = (key: string): string => {
    const v = values.get(key);
    if (v === undefined) problems.push(`--${key} is missing`);
    return v ?? "";
  };
  const healthPath = need("health-path");
  if (healthPath && !healthPath.startsWith("/"))
    problems.push(`--health-path ${healthPath} must start with /`);
  const gate = need("gate");
  const gateRetry = gate ? decodeGateRetry(gate, values, problems) : undefined;
  let rollout: Rollout | undefined;
  const steps = values.get("steps");
  const wait = values.get("wait-seconds");
  if (steps !== undefined || wait !== undefined) {
    if (steps === undefined || wait === undefined) {
      problems.push("--steps and --wait-seconds go together");
    } else {
      rollout = { steps: steps.split(",").map(Number), waitSeconds: Number(wait) };
      problems.push(...rolloutProblems(rollout).map((p) => `--${p.replace(/^waitSeconds/, "wait-seconds")}`));
    }
  }
  const analysis = gate
    ? decodeAnalysis(steps !== undefined && gate !== "none", values, problems)
    : undefined;
  const more = {
    ...(rollout ? { rollout } : {}),
    ...(analysis ? { analysis } : {}),
    ...(image.checks ? { image: image.checks } : {}),
  };
  if (kind === "cloudrun") {
    const revision = need("revision");
    const g: CloudRunGate | undefined =
      gate === "none" || gate === "public"
        ? gate
        : gate.startsWith("id-token:") && gate.length > "id-token:".length
          ? { idTokenFor: gate.slice("id-token:".length) }
          : undefined;
    if (gate && !g)
      problems.push(`--gate ${gate}: a Cloud Run gate is public, none or id-token:<service account>`);
    if (problems.length > 0 || !g) return { problems };
    const step: ReleaseStep = {
      target: "cloudrun",
      service: name!,
      revision,
      healthPath,
      gate: g,
      ...(gateRetry ? { gateRetry } : {}),
    };
    return { step: { ...step, ...more } };
  }
  const version = need("version");
  const alias = need("alias");
  if (version && !/^\d+$/.test(version))
    problems.push(`--version ${version}: a published version is a number`);
  if (gate && gate !== "invoke" && gate !== "none")
    problems.push(`--gate ${gate}: a Lambda gate is invoke or none`);
  if (problems.length > 0) return { problems };
  const step: ReleaseStep = {
    target: "lambda",
    functionArn: name!,
    version,
    alias,
    healthPath,
    gate: gate as LambdaGate,
    ...(gateRetry ? { gateRetry } : {}),
  };
  return { step: { ...step, ...more } };
}

/** A `command:local:Command`'s `create` read back as a release step; undefined when it is not one. */
export function decodeReleaseStep(commandLine: string): ReleaseStep | undefined {
  const text = commandLine.trim();
  if (!text.startsWith(`${RELEASE_COMMAND} `)) return undefined;
  return decodeReleaseArgs(text.slice(RELEASE_COMMAND.length).trim().split(/\s+/)).step;
}
