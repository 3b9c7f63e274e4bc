/**
 * release: the step that owns a service's traffic (docs/safe-release.md). It gates the new Cloud Run
 * revision on its own tag URL, or the new Lambda version by invoking its qualified ARN, before either
 * takes traffic; then moves traffic to it, at once or in steps gated again at each. A failed gate
 * returns all traffic to where it was and exits 1 with one message.
 *
 *   npm run release -- cloudrun projects/<p>/locations/<r>/services/<name> --revision <name>
 *     [--gate public|none|id-token:<service account>] [--health-path /health] [--steps 10,50 --wait-seconds 60]
 *   npm run release -- lambda <function ARN> --version <n> --alias live
 *     [--gate invoke|none] [--health-path /health] [--steps 10,50 --wait-seconds 60]
 *
 * Credentials are the deployer's ambient identity, as `pulumi up` has them: Application Default
 * Credentials for Google (a private service's identity token is minted here, by impersonating the
 * gate's service account, when the gate runs), the AWS SDK's default chain for Lambda.
 */
import { Command, InvalidArgumentError } from "commander";
import { UserError } from "../lib/errors";
import { release, rolloutProblems, type ReleaseTarget, type Rollout } from "../lib/release";
import { cloudRunTarget, lambdaTarget, type HttpClient } from "../lib/release-targets";
import { parseOrExit, run } from "./cli";

function steps(value: string): number[] {
  const list = value.split(",").map(Number);
  if (list.some((n) => !Number.isInteger(n)))
    throw new InvalidArgumentError("expected percentages like 10,50");
  return list;
}

async function googleTarget(service: string, o: Options): Promise<ReleaseTarget> {
  const { GoogleAuth, Impersonated } = await import("google-auth-library");
  const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
  const client = await auth.getClient();
  const gate = o.gate ?? "public";
  const idTokenFor = gate.startsWith("id-token:") ? gate.slice("id-token:".length) : undefined;
  return cloudRunTarget({
    http: client as unknown as HttpClient,
    service,
    revision: o.revision!,
    healthPath: o.healthPath,
    idToken: idTokenFor
      ? (audience) =>
          new Impersonated({
            sourceClient: client,
            targetPrincipal: idTokenFor,
            targetScopes: ["https://www.googleapis.com/auth/cloud-platform"],
          }).fetchIdToken(audience, { includeEmail: true })
      : undefined,
  });
}

async function awsTarget(functionArn: string, o: Options): Promise<ReleaseTarget> {
  const { LambdaClient } = await import("@aws-sdk/client-lambda");
  const region = functionArn.split(":")[3];
  if (!region) throw new UserError(`not a Lambda function ARN: ${JSON.stringify(functionArn)}`, []);
  return lambdaTarget({
    client: new LambdaClient({ region }),
    functionArn,
    version: o.version!,
    alias: o.alias!,
    healthPath: o.healthPath,
  });
}

interface Options {
  revision?: string;
  version?: string;
  alias?: string;
  gate?: string;
  healthPath: string;
  steps?: number[];
  waitSeconds?: number;
}

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("release")
    .argument("<target>", "cloudrun or lambda")
    .argument("<name>", "Cloud Run service name projects/…/services/…, or the Lambda function ARN")
    .option("--revision <name>", "Cloud Run: the revision to release")
    .option("--version <n>", "Lambda: the published version to release")
    .option("--alias <name>", "Lambda: the alias that carries traffic")
    .option("--gate <kind>", "public, id-token:<service account>, invoke, or none")
    .option("--health-path <path>", "the health endpoint", "/health")
    .option("--steps <percentages>", "gradual shares before 100, e.g. 10,50", steps)
    .option("--wait-seconds <s>", "wait after each step", (v) => Number(v));
  const stop = parseOrExit(program, argv);
  if (stop !== undefined) return stop;
  const [kind, name] = program.args as [string, string];
  const o = program.opts<Options>();
  const rollout: Rollout | undefined = o.steps
    ? { steps: o.steps, waitSeconds: o.waitSeconds ?? 0 }
    : undefined;
  const problems = rollout ? rolloutProblems(rollout) : [];
  if (kind === "cloudrun" && !o.revision) problems.push("cloudrun needs --revision");
  if (kind === "lambda" && (!o.version || !o.alias)) problems.push("lambda needs --version and --alias");
  if (kind !== "cloudrun" && kind !== "lambda") problems.push(`unknown target ${JSON.stringify(kind)}`);
  if (problems.length > 0) throw new UserError("invalid arguments", problems);

  const target = kind === "cloudrun" ? await googleTarget(name, o) : await awsTarget(name, o);
  const outcome = await release(target, {
    rollout,
    gated: o.gate !== "none",
    log: (line) => console.error(line),
  });
  if (!outcome.released) {
    console.error(outcome.message);
    return 1;
  }
  // stdout is the Command's output: where traffic is, for the stack's state and the plan.
  console.log(outcome.summary);
  return 0;
}

run("release", () => main(process.argv));
