/**
 * release: the step that owns a service's traffic (docs/safe-release.md). It gates the new Cloud Run
 * revision on its own tag URL, or the new Lambda version by invoking its qualified ARN, before either
 * takes traffic; then moves traffic to it, at once or in steps gated again at each. Any failure returns
 * all traffic to where it was and exits 1 with one message; a step that finds someone else moving the
 * traffic, or its own update gone, stops without writing.
 *
 *   npm run release -- cloudrun projects/<p>/locations/<r>/services/<name> --revision <name>
 *     --gate public|none|id-token:<service account> --health-path /health [--steps 10,50 --wait-seconds 60
 *     --analysis off | --max-error-rate 0.01 --max-p99-latency-ms 1500 --min-requests 50
 *     --too-few-requests hold --max-hold-seconds 600 --metric-delay-seconds 180]
 *   npm run release -- lambda <function ARN> --version <n> --alias live
 *     --gate invoke|none --health-path /health [--steps 10,50 --wait-seconds 60 …the same analysis flags]
 *
 * The arguments are lib/release/step.ts's codec, the same one the components write them with.
 * With a rollout, each step is also judged by the candidate's own traffic, read from Cloud Monitoring
 * or CloudWatch (lib/release/analysis.ts).
 * Credentials are the deployer's ambient identity, as `pulumi up` has them: Application Default
 * Credentials for Google (a private service's identity token is minted here, by impersonating the
 * gate's service account, when the gate runs), the AWS SDK's default chain for Lambda.
 */
import { UserError } from "../lib/errors";
import { parseLambdaArn } from "../lib/names";
import {
  decodeReleaseArgs,
  release,
  type MetricsReader,
  type ReleaseStep,
  type ReleaseTarget,
} from "../lib/release";
import { cloudRunMetrics } from "../lib/release/metrics-cloud-run";
import { lambdaMetrics } from "../lib/release/metrics-lambda";
import { cloudRunTarget, type HttpClient } from "../lib/release/cloud-run";
import { LAMBDA_REQUEST_TIMEOUT_MS, lambdaTarget } from "../lib/release/lambda";
import { watchUpdate } from "../lib/release/ownership";
import { scanCheck, signatureCheck, type Check } from "../lib/release/checks";
import { parseImageRef } from "../lib/image-ref";
import { RegistryClient } from "../lib/registry/client";
import { scanReader } from "../lib/scan/read";
import { scannerOf } from "../lib/scan/step";
import { ambientSigner } from "../lib/signing/kms";
import { SIGNATURE_KEY_VAR } from "../lib/signing/step";
import { verifySignature } from "../lib/signing/verify";
import { registryAccess, run } from "./cli";

const ROLLOUT_USAGE =
  "[--steps 10,50 --wait-seconds 60 (--analysis off | --max-error-rate 0.01 --max-p99-latency-ms 1500 --min-requests 50 --too-few-requests hold|pass --max-hold-seconds 600 --metric-delay-seconds 180)]";
const USAGE = `usage: release cloudrun projects/<p>/locations/<r>/services/<name> --revision <name> --gate public|none|id-token:<account> --health-path <path> ${ROLLOUT_USAGE}
       release lambda <function ARN> --version <n> --alias <alias> --gate invoke|none --health-path <path> ${ROLLOUT_USAGE}`;

/** A release's target on its cloud, and the reader of the candidate's own metrics. */
interface Cloud {
  target: ReleaseTarget;
  metrics: MetricsReader;
  /** What counts as an error there, for the analysis's message. */
  errorsAre: string;
}

async function google(step: Extract<ReleaseStep, { target: "cloudrun" }>): Promise<Cloud> {
  const { GoogleAuth, Impersonated } = await import("google-auth-library");
  const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
  const client = await auth.getClient();
  const http = client as unknown as HttpClient;
  const gate = step.gate;
  const metrics = cloudRunMetrics({ http, service: step.service, revision: step.revision });
  const target = cloudRunTarget({
    http,
    service: step.service,
    revision: step.revision,
    healthPath: step.healthPath,
    idToken:
      typeof gate === "object"
        ? (audience) =>
            new Impersonated({
              sourceClient: client,
              targetPrincipal: gate.idTokenFor,
              targetScopes: ["https://www.googleapis.com/auth/cloud-platform"],
            }).fetchIdToken(audience, { includeEmail: true })
        : undefined,
    ...(step.gateRetry
      ? {
          health: {
            attempts: step.gateRetry.attempts,
            delayMs: step.gateRetry.intervalSeconds * 1000,
            timeoutMs: step.gateRetry.timeoutSeconds * 1000,
          },
        }
      : {}),
  });
  return { target, metrics, errorsAre: "5xx" };
}

async function aws(step: Extract<ReleaseStep, { target: "lambda" }>): Promise<Cloud> {
  const { LambdaClient } = await import("@aws-sdk/client-lambda");
  const { CloudWatchClient } = await import("@aws-sdk/client-cloudwatch");
  const arn = parseLambdaArn(step.functionArn);
  if (!arn)
    throw new UserError(`not an unqualified Lambda function ARN: ${JSON.stringify(step.functionArn)}`, []);
  // One retry policy owns every call (lib/release/retry.ts): the SDK's own retries are off. The
  // SDK's Node handler waits forever by default: every request gets a deadline.
  const sdk = {
    region: arn.region,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: LAMBDA_REQUEST_TIMEOUT_MS },
  };
  const metrics = lambdaMetrics({
    client: new CloudWatchClient(sdk),
    functionName: arn.functionName,
    alias: step.alias,
    version: step.version,
  });
  const target = lambdaTarget({
    client: new LambdaClient(sdk),
    functionArn: step.functionArn,
    version: step.version,
    alias: step.alias,
    healthPath: step.healthPath,
    ...(step.gateRetry
      ? {
          attempts: step.gateRetry.attempts,
          delayMs: step.gateRetry.intervalSeconds * 1000,
          invokeTimeoutMs: step.gateRetry.timeoutSeconds * 1000,
        }
      : {}),
  });
  return { target, metrics, errorsAre: "function errors" };
}

/**
 * The image checks, once before any traffic: the signature (by the signing stack's KMS key, read from
 * KMS, or the promoting stack's pinned key in SIGNATURE_PUBLIC_KEY), then the scan as it is now. The
 * registry is read with REGISTRY_LOGIN, as the verify step reads it (lib/registry/login.ts).
 */
async function imagePreflight(step: ReleaseStep): Promise<Check[]> {
  const c = step.image;
  if (!c) return [];
  const image = parseImageRef(c.ref);
  const digest = image.digest!;
  const checks: Check[] = [];
  if (c.signature) {
    const { commit, stack, reference, key } = c.signature;
    const publicKeyPem = key
      ? await (await ambientSigner(key)).publicKeyPem()
      : process.env[SIGNATURE_KEY_VAR];
    if (!publicKeyPem)
      throw new UserError("release: --signed-for needs the signing stack's public key", [
        `set ${SIGNATURE_KEY_VAR} to it (PEM), or give --signed-with <key URI>; the program sets one of them`,
      ]);
    const client = new RegistryClient(image.registry, await registryAccess(process.env));
    const repository = image.repository;
    checks.push(
      signatureCheck(c.ref, () =>
        verifySignature({ client, repository, digest, publicKeyPem, commit, stack, reference }),
      ),
    );
  }
  if (c.scan) {
    const by = scannerOf(`${image.registry}/${image.repository}`);
    if ("problem" in by) throw new UserError(`release: ${by.problem}`, []);
    checks.push(scanCheck(c.ref, await scanReader(by, digest), c.scan));
  }
  return checks;
}

/**
 * Output that cannot be delivered is dropped, never fatal: a step whose provider died (its pipes
 * closed) keeps running to its own decision, which is to stop without writing (lib/release/run.ts).
 */
function survivePipes(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
}

async function main(argv: string[]): Promise<number> {
  survivePipes();
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  const decoded = decodeReleaseArgs(argv);
  if (!decoded.step) throw new UserError("invalid arguments", [...decoded.problems, USAGE]);
  const step = decoded.step;
  const cloud = step.target === "cloudrun" ? await google(step) : await aws(step);
  const update = watchUpdate();
  if (update.watched === 0) {
    console.error(
      "release: no pulumi CLI among this step's parent processes; if this step outlives its update, " +
        "only its conditional writes stop it",
    );
  }
  const outcome = await release(cloud.target, {
    preflight: await imagePreflight(step),
    rollout: step.rollout,
    ...(step.analysis && step.analysis !== "off"
      ? { analysis: { reader: cloud.metrics, settings: step.analysis, errorsAre: cloud.errorsAre } }
      : {}),
    gated: step.gate !== "none",
    update,
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

run("release", () => main(process.argv.slice(2)));
