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
 * - `POST /2015-03-31/functions/<fn>/invocations?Qualifier=<v>`: Invoke. A function error is a 200
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
      const fnName = decodeURIComponent(m[1]!).split(":").pop()!;
      const version = query.get("Qualifier") ?? "$LATEST";
      const failed = this.faults.error("lambda.Invoke");
      if (failed) return (this.error(reply, failed, `${fnName}:${version}`), true);
      const fn = this.functions.get(fnName);
      if (!fn || !fn.versions.includes(version)) return (this.notFound(reply, `${fnName}:${version}`), true);
      const headers = { "x-amz-executed-version": version };
      if (this.faults.coldStart(`${fnName}:${version}`)) {
        reply(
          200,
          {
            errorType: "Sandbox.Timedout",
            errorMessage: `RequestId: ${randomUUID()} Error: Task timed out after 3.00 seconds`,
          },
          { ...headers, "x-amz-function-error": "Unhandled" },
        );
        return true;
      }
      const error = await this.answer(fnName, version);
      if (error) reply(200, error, { ...headers, "x-amz-function-error": "Unhandled" });
      else reply(200, { status: "healthy" }, headers);
      return true;
    }
    return false;
  }
}
