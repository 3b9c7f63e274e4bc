/**
 * The Lambda API (2015-03-31, restJson1), as the release step meets it:
 *
 * - `GET|PUT /2015-03-31/functions/<fn>/aliases/<name>`: GetAlias and UpdateAlias (`FunctionVersion`,
 *   `RoutingConfig.AdditionalVersionWeights`, one entry, 0.0-1.0). Both answer the alias with its
 *   `RevisionId`, "A unique identifier that changes when you update the alias" (botocore
 *   data/lambda/2015-03-31/service-2.json, AliasConfiguration); every UpdateAlias makes a new one, as
 *   LocalStack's recordings against real Lambda show. An UpdateAlias with another `RevisionId` is
 *   refused `PreconditionFailedException` (412), with the message recorded from real Lambda: "The
 *   Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to
 *   retrieve the latest Revision Id".
 * - `POST /2015-03-31/functions/<fn>/invocations?Qualifier=<v>`: Invoke, of a version or an alias (an
 *   alias with `AdditionalVersionWeights` "routes traffic to the two versions based on the weights";
 *   the answer's `X-Amz-Executed-Version` says which ran). A health-check event (`{"healthCheck":
 *   true}`, lib/release/lambda.ts) gets the version's health answer; any other is a user's request,
 *   answered by the version's app (index.ts `AppBehaviour`). Each invocation, and each throttled
 *   one, is measured for CloudWatch (metrics.ts), under the qualifier it was invoked by. A function error is a 200
 *   with `X-Amz-Function-Error: Unhandled` and the error as payload; a timeout (a cold start here) is
 *   `{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: <id> Error: Task timed out after 3.00
 *   seconds"}`, the shape recorded from real Lambda in 2025.
 * - Errors carry `x-amzn-ErrorType` (the SDK reads the error's name from it first; without it the error
 *   is `Unknown`) and a body `{ Type: "User", message }`: `ResourceNotFoundException` (404),
 *   `ResourceConflictException` (409, "The operation cannot be performed at this time. An update is in
 *   progress for resource: …"), `TooManyRequestsException` (429, with `Retry-After` and `Reason`),
 *   `ServiceException` (500, `Message`).
 */
import { randomUUID } from "node:crypto";
import type { Faults } from "./faults";
import type { JsonBody, Reply } from "./http";
import type { LambdaSample } from "./metrics";

/** How users' invocations reach a version's app, and what is measured of them (index.ts). */
export interface LambdaUsers {
  /** The version an alias's invocation runs, by its weights (weights.ts). */
  pick(key: string, weights: Record<string, number>): string | undefined;
  /** The version's app answering one user request. */
  serve(fn: string, version: string): Promise<{ failed: boolean }>;
  record(sample: LambdaSample): void;
}

export interface FakeAlias {
  FunctionVersion: string;
  RoutingConfig?: { AdditionalVersionWeights?: Record<string, number> };
  RevisionId: string;
}

export interface FakeFunction {
  versions: string[];
  aliases: Record<string, FakeAlias>;
}

export type LambdaEvent = {
  kind: "lambda";
  fn: string;
  alias: string;
  version: string;
  weights: Record<string, number>;
  /** When it was written (ms since the epoch). */
  at: number;
};

const ERRORS: Record<
  number,
  { type: string; message: (what: string) => string; headers?: Record<string, string> }
> = {
  409: {
    type: "ResourceConflictException",
    message: (what) =>
      `The operation cannot be performed at this time. An update is in progress for resource: ${what}`,
  },
  429: {
    type: "TooManyRequestsException",
    // The shape's documentation (botocore service-2.json TooManyRequestsException).
    message: () => "The request throughput limit was exceeded.",
    headers: { "retry-after": "1" },
  },
  500: { type: "ServiceException", message: () => "Internal error" },
  503: { type: "ServiceException", message: () => "Service unavailable" },
};

export class LambdaApi {
  readonly functions = new Map<string, FakeFunction>();

  constructor(
    private readonly faults: Faults,
    private readonly record: (e: LambdaEvent) => void,
    /** A version's health answer: undefined when healthy, else the function error's payload. */
    private readonly answer: (fn: string, version: string) => Promise<unknown | undefined>,
    private readonly created: (key: string) => void,
    private readonly users?: LambdaUsers,
  ) {}

  publish(fn: string, version: string): void {
    this.created(`${fn}:${version}`);
    const f = this.functions.get(fn) ?? { versions: [], aliases: {} };
    f.versions.push(version);
    this.functions.set(fn, f);
  }

  setAlias(fn: string, alias: string, version: string): void {
    this.functions.get(fn)!.aliases[alias] = { FunctionVersion: version, RevisionId: randomUUID() };
  }

  private error(reply: Reply, status: number, what: string): void {
    const e = ERRORS[status]!;
    const body =
      status === 429
        ? { Type: "User", message: e.message(what), Reason: "CallerRateLimitExceeded" }
        : status >= 500
          ? { Message: e.message(what) }
          : { Type: "User", message: e.message(what) };
    reply(status, body, { "x-amzn-errortype": e.type, ...e.headers });
  }

  private notFound(reply: Reply, what: string): void {
    reply(
      404,
      { Type: "User", message: `Function not found: ${what}` },
      { "x-amzn-errortype": "ResourceNotFoundException" },
    );
  }

  async handle(
    method: string,
    path: string,
    body: JsonBody,
    query: URLSearchParams,
    reply: Reply,
    raw = "",
  ): Promise<boolean> {
    let m = /^\/2015-03-31\/functions\/([^/]+)\/aliases\/([^/]+)$/.exec(path);
    if (m) {
      const failed = this.faults.error(method === "PUT" ? "lambda.UpdateAlias" : "lambda.GetAlias");
      const fnName = decodeURIComponent(m[1]!).split(":").pop()!;
      if (failed) return (this.error(reply, failed, `${fnName}:${m[2]}`), true);
      const fn = this.functions.get(fnName);
      const alias = fn?.aliases[m[2]!];
      if (!fn || !alias) return (this.notFound(reply, `${fnName}:${m[2]}`), true);
      if (method === "PUT") {
        if (body.RevisionId !== undefined && body.RevisionId !== alias.RevisionId) {
          reply(
            412,
            {
              Type: "User",
              message:
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            },
            { "x-amzn-errortype": "PreconditionFailedException" },
          );
          return true;
        }
        const weights = (body.RoutingConfig?.AdditionalVersionWeights ?? {}) as Record<string, number>;
        const entries = Object.entries(weights);
        const bad =
          !fn.versions.includes(body.FunctionVersion) ||
          entries.length > 1 ||
          entries.some(([v, w]) => !fn.versions.includes(v) || w < 0 || w > 1);
        if (bad) {
          reply(
            400,
            { Type: "User", message: "invalid alias routing" },
            { "x-amzn-errortype": "InvalidParameterValueException" },
          );
          return true;
        }
        fn.aliases[m[2]!] = {
          FunctionVersion: body.FunctionVersion,
          RoutingConfig: { AdditionalVersionWeights: weights },
          RevisionId: randomUUID(),
        };
        this.record({
          kind: "lambda",
          fn: fnName,
          alias: m[2]!,
          version: body.FunctionVersion,
          weights,
          at: Date.now(),
        });
        if (this.faults.lostAnswer("lambda.UpdateAlias"))
          return (this.error(reply, 503, `${fnName}:${m[2]}`), true);
      }
      const a = fn.aliases[m[2]!]!;
      reply(200, {
        AliasArn: `arn:aws:lambda:us-east-1:111111111111:function:${fnName}:${m[2]}`,
        Name: m[2],
        FunctionVersion: a.FunctionVersion,
        // GetAlias omits RoutingConfig when no weights are set.
        ...(a.RoutingConfig && Object.keys(a.RoutingConfig.AdditionalVersionWeights ?? {}).length > 0
          ? { RoutingConfig: a.RoutingConfig }
          : {}),
        RevisionId: a.RevisionId,
      });
      return true;
    }
    m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(path);
    if (m && method === "POST") {
      const began = Date.now();
      const fnName = decodeURIComponent(m[1]!).split(":").pop()!;
      const qualifier = query.get("Qualifier") ?? "$LATEST";
      const resource = `${fnName}:${qualifier}`;
      const measure = (o: Partial<LambdaSample>) =>
        this.users?.record({
          fn: fnName,
          resource,
          error: false,
          throttled: false,
          durationMs: Date.now() - began,
          at: began,
          ...o,
        });
      const failed = this.faults.error("lambda.Invoke");
      if (failed === 429) measure({ throttled: true, durationMs: 0 });
      if (failed) return (this.error(reply, failed, resource), true);
      const fn = this.functions.get(fnName);
      const alias = fn?.aliases[qualifier];
      const version = alias
        ? this.users?.pick(resource, aliasWeights(alias))
        : fn?.versions.includes(qualifier)
          ? qualifier
          : undefined;
      if (!fn || !version) return (this.notFound(reply, resource), true);
      const headers = { "x-amz-executed-version": version };
      const unhandled = (payload: unknown) => {
        measure({ executedVersion: version, error: true });
        reply(200, payload, { ...headers, "x-amz-function-error": "Unhandled" });
        return true;
      };
      let event: JsonBody = {};
      try {
        event = raw ? (JSON.parse(raw) as JsonBody) : {};
      } catch {
        // Not JSON: a user's event all the same.
      }
      if (event.healthCheck !== true && this.users) {
        const { failed: broke } = await this.users.serve(fnName, version);
        if (broke) return unhandled({ errorType: "Error", errorMessage: "the app failed this request" });
        measure({ executedVersion: version });
        reply(200, { statusCode: 200, body: "ok" }, headers);
        return true;
      }
      if (this.faults.coldStart(`${fnName}:${version}`)) {
        return unhandled({
          errorType: "Sandbox.Timedout",
          errorMessage: `RequestId: ${randomUUID()} Error: Task timed out after 3.00 seconds`,
        });
      }
      const error = await this.answer(fnName, version);
      if (error) return unhandled(error);
      measure({ executedVersion: version });
      reply(200, { status: "healthy" }, headers);
      return true;
    }
    return false;
  }
}

/** An alias's weights by version: `FunctionVersion` takes what the additional version does not. */
function aliasWeights(a: FakeAlias): Record<string, number> {
  const extra = a.RoutingConfig?.AdditionalVersionWeights ?? {};
  const rest = 1 - Object.values(extra).reduce((n, w) => n + w, 0);
  return {
    [a.FunctionVersion]: Math.round(rest * 100),
    ...Object.fromEntries(Object.entries(extra).map(([v, w]) => [v, Math.round(w * 100)])),
  };
}
