/**
 * Lambda behind {@link ReleaseTarget}: the alias points at a version, plus at most one more by weight
 * (`RoutingConfig.AdditionalVersionWeights`: "the second version, and the percentage of traffic that's
 * routed to it", 0.0-1.0). Lambda API (2015-03-31), through @aws-sdk/client-lambda:
 *
 * - `GetAlias` returns `RevisionId`; `UpdateAlias` takes it: "Only update the alias if the revision ID
 *   matches the ID that's specified. Use this option to avoid modifying an alias that has changed since
 *   you last read it." A mismatch is `PreconditionFailedException` (HTTP 412), which is a
 *   {@link TrafficConflict} here. The answer carries the alias's new `RevisionId`.
 * - `Invoke` with `Qualifier` = the version reaches the new version alone. A function error is a 200
 *   with `X-Amz-Function-Error: Unhandled` and the error as payload; a timeout says "Task timed out
 *   after N seconds" there, which on a new version's first invoke is a cold start of a fresh image, not
 *   the code's answer: it is asked again. Any other function error is final.
 */
import {
  GetAliasCommand,
  InvokeCommand,
  PreconditionFailedException,
  ResourceNotFoundException,
  UpdateAliasCommand,
  type AliasConfiguration,
  type LambdaClient,
} from "@aws-sdk/client-lambda";
import { parseLambdaArn } from "../names";
import { describeError, realClock, type Clock } from "./retry";
import { TrafficConflict, type GateAnswer, type ReleaseTarget, type Snapshot } from "./target";
import { sameTraffic, type Traffic } from "./traffic";
import { isTransient } from "./transient";

/**
 * How long one Lambda API request may take, Invoke included: a health check of a fresh image pays a
 * cold start (an init of up to 10 s) before it answers.
 */
export const LAMBDA_REQUEST_TIMEOUT_MS = 60_000;

/** The Lambda health-check event the gate invokes a version with (apps/worker answers it). */
export function lambdaHealthEvent(healthPath: string): string {
  return JSON.stringify({ healthCheck: true, path: healthPath });
}

/**
 * A function error that is not the code's own answer: the invocation ran out of time. Lambda answers
 * it `{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: … Error: Task timed out after 1.00
 * seconds"}` (recorded against Lambda in 2025, LocalStack `test_lambda.snapshot.json`
 * `test_lambda_invoke_with_timeout`), and before with only `"errorMessage": "<date> <id> Task timed out
 * after 1.00 seconds"`, so both are matched. A fresh image's first invoke is a cold start (its Init
 * is limited to 10 s and retried at the first invoke: AWS docs, lambda-runtime-environment.md), so it
 * is asked again.
 */
export function isColdStartTimeout(payload: string): boolean {
  return (
    /Task timed out after [\d.]+ seconds/.test(payload) ||
    /"errorType"\s*:\s*"Sandbox\.Timedout"/.test(payload)
  );
}

export interface LambdaTargetOptions {
  client: LambdaClient;
  /** Unqualified function ARN. */
  functionArn: string;
  version: string;
  alias: string;
  healthPath: string;
  /** Invocations tried before the gate counts as failed (a just-published image may still be Pending). @default 5 */
  attempts?: number;
  /** Delay before the second invocation; grows linearly. @default 3000 */
  delayMs?: number;
  /** How long one gate invocation may take before it counts as a failed attempt. @default LAMBDA_REQUEST_TIMEOUT_MS */
  invokeTimeoutMs?: number;
  clock?: Clock;
}

function snapshot(a: Pick<AliasConfiguration, "FunctionVersion" | "RoutingConfig" | "RevisionId">): Snapshot {
  const weights = Object.entries(a.RoutingConfig?.AdditionalVersionWeights ?? {}).sort(([x], [y]) =>
    x.localeCompare(y),
  );
  const extra = weights.map(([v, w]) => ({ target: v, percent: Math.round(w * 100) }));
  const rest = 100 - extra.reduce((n, t) => n + t.percent, 0);
  return {
    traffic: [{ target: a.FunctionVersion!, percent: rest }, ...extra].filter((t) => t.percent > 0),
    routing: JSON.stringify([a.FunctionVersion, weights]),
    version: a.RevisionId ?? "",
  };
}

/** No alias yet: the first release, whose alias Pulumi creates once this step passed. */
const NO_ALIAS: Snapshot = { traffic: [], routing: "no alias", version: "" };

export function lambdaTarget(o: LambdaTargetOptions): ReleaseTarget {
  const clock = o.clock ?? realClock;
  const name = parseLambdaArn(o.functionArn)?.functionName ?? o.functionArn;
  /** `FunctionVersion` and weights for a split (two versions at most: an alias's limit). */
  const aliasOf = (t: Traffic) => {
    const candidate = t.find((x) => x.target === o.version);
    const others = t.filter((x) => x.target !== o.version);
    if (others.length > 1)
      throw new Error(`a Lambda alias routes to at most two versions; cannot route ${JSON.stringify(t)}`);
    const primary = candidate && candidate.percent === 100 ? candidate : (others[0] ?? candidate!);
    const weights: Record<string, number> =
      primary.target === o.version || !candidate ? {} : { [o.version]: candidate.percent / 100 };
    return { FunctionVersion: primary.target, RoutingConfig: { AdditionalVersionWeights: weights } };
  };
  return {
    label: `Lambda function ${name}`,
    candidate: o.version,
    async read() {
      try {
        return snapshot(
          await o.client.send(new GetAliasCommand({ FunctionName: o.functionArn, Name: o.alias })),
        );
      } catch (err) {
        if (err instanceof ResourceNotFoundException) return NO_ALIAS;
        throw err;
      }
    },
    // Lambda has no tag: a split equal to the alias's own is the alias as it is.
    routingOf(traffic, basis) {
      if (basis === NO_ALIAS || traffic.length === 0 || sameTraffic(traffic, basis.traffic))
        return basis.routing;
      return snapshot(aliasOf(traffic)).routing;
    },
    async route(traffic, basis) {
      if (basis.version === "") throw new Error(`the ${o.alias} alias of ${name} does not exist yet`);
      try {
        const a = await o.client.send(
          new UpdateAliasCommand({
            FunctionName: o.functionArn,
            Name: o.alias,
            ...aliasOf(traffic),
            RevisionId: basis.version,
          }),
        );
        return snapshot(a);
      } catch (err) {
        if (err instanceof PreconditionFailedException)
          throw new TrafficConflict(
            `the ${o.alias} alias changed since revision ${basis.version} (${err.message})`,
          );
        throw err;
      }
    },
    async gate(): Promise<GateAnswer> {
      let last = "";
      const attempts = o.attempts ?? 5;
      for (let i = 1; i <= attempts; i++) {
        if (i > 1) await clock.sleep((o.delayMs ?? 3000) * (i - 1));
        try {
          const r = await o.client.send(
            new InvokeCommand({
              FunctionName: o.functionArn,
              Qualifier: o.version,
              Payload: Buffer.from(lambdaHealthEvent(o.healthPath)),
            }),
            o.invokeTimeoutMs ? { abortSignal: AbortSignal.timeout(o.invokeTimeoutMs) } : {},
          );
          const body = r.Payload ? Buffer.from(r.Payload).toString("utf8").slice(0, 200) : "";
          if (r.FunctionError) {
            last = `version ${o.version} returned FunctionError ${r.FunctionError}: ${body}`;
            if (isColdStartTimeout(body)) continue;
            // The code's own answer: asking again will not change it.
            return { healthy: false, last };
          }
          // Healthy means it says so (apps/worker answers {"status":"healthy"}), not just "no error".
          let status: unknown;
          try {
            status = (JSON.parse(body) as { status?: unknown }).status;
          } catch {
            status = undefined;
          }
          last = `version ${o.version} answered ${r.StatusCode} ${body}`;
          // Any other answer is the function's own, as final as its error.
          return { healthy: status === "healthy", last };
        } catch (err) {
          last = `version ${o.version}: ${describeError(err)}`;
          // A refusal (not found, access denied) will not change by asking again; throttling or a
          // version still Pending (ResourceConflictException) may.
          // A gate invocation past its timeout (AbortSignal.timeout) counts as a failed attempt.
          const timedOut = err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");
          if (!isTransient(err) && !timedOut) return { healthy: false, last };
        }
      }
      return { healthy: false, last };
    },
  };
}
