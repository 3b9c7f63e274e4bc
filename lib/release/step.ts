/**
 * The release step's contract, written once: {@link ReleaseStep} is what a component asks for, and
 * {@link encodeReleaseStep} / {@link decodeReleaseStep} are the one codec between it and the command
 * line `command:local:Command` runs. The components encode, scripts/release.ts decodes what it is
 * given, and the offline plan and the policy pack read the same decoding, so a default can never mean
 * one thing to the plan and another to the step: every field is written on the command line, and a
 * field missing from it is an error, never a default.
 */
import { RELEASE_COMMAND } from "../scripts";
import { rolloutProblems, type Rollout } from "./traffic";

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
      rollout?: Rollout;
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
      rollout?: Rollout;
    };

const gateWord = (gate: CloudRunGate | LambdaGate) =>
  typeof gate === "string" ? gate : `id-token:${gate.idTokenFor}`;

/** `<release> cloudrun <service> --revision … --gate …` or `<release> lambda <arn> --version … --alias …`. */
export function encodeReleaseStep(step: ReleaseStep): string {
  const rollout = step.rollout
    ? ["--steps", step.rollout.steps.join(","), "--wait-seconds", String(step.rollout.waitSeconds)]
    : [];
  const words =
    step.target === "cloudrun"
      ? [RELEASE_COMMAND, "cloudrun", step.service, "--revision", step.revision]
      : [RELEASE_COMMAND, "lambda", step.functionArn, "--version", step.version, "--alias", step.alias];
  return [...words, "--health-path", step.healthPath, "--gate", gateWord(step.gate), ...rollout].join(" ");
}

const FLAGS = {
  cloudrun: ["revision", "health-path", "gate", "steps", "wait-seconds"],
  lambda: ["version", "alias", "health-path", "gate", "steps", "wait-seconds"],
} as const;

export type Decoded = { step: ReleaseStep; problems?: undefined } | { step?: undefined; problems: string[] };

/**
 * Reads a release step from its arguments (`cloudrun <service> --revision …`, as scripts/release.ts
 * receives them). Every problem is reported, each naming the flag and what it takes.
 */
export function decodeReleaseArgs(args: readonly string[]): Decoded {
  const [kind, name, ...rest] = args;
  if (kind !== "cloudrun" && kind !== "lambda")
    return { problems: [`the first argument is ${JSON.stringify(kind ?? "")}; expected cloudrun or lambda`] };
  const problems: string[] = [];
  if (!name || name.startsWith("--"))
    problems.push(
      kind === "cloudrun"
        ? "give the service as projects/<project>/locations/<region>/services/<name>"
        : "give the unqualified function ARN",
    );
  const values = new Map<string, string>();
  for (let i = name?.startsWith("--") ? 1 : 0; i < rest.length; i += 2) {
    const flag = rest[i]!;
    const value = rest[i + 1];
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
    const step: ReleaseStep = { target: "cloudrun", service: name!, revision, healthPath, gate: g };
    return { step: rollout ? { ...step, rollout } : step };
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
  };
  return { step: rollout ? { ...step, rollout } : step };
}

/** A `command:local:Command`'s `create` read back as a release step; undefined when it is not one. */
export function decodeReleaseStep(commandLine: string): ReleaseStep | undefined {
  const text = commandLine.trim();
  if (!text.startsWith(`${RELEASE_COMMAND} `)) return undefined;
  return decodeReleaseArgs(text.slice(RELEASE_COMMAND.length).trim().split(/\s+/)).step;
}
