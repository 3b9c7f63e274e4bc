/**
 * The sample Lambda worker: an image-processing stub. It answers the deploy's smoke test
 * (`{"healthCheck": true}`) and `GET /health` through a function URL, and otherwise "processes" the
 * object key it is given.
 *
 * Secrets reach it as env vars holding a Secrets Manager ARN (`DB_SECRET_ARN`), never as values: the
 * value is read at run time with the function's own role, once per execution environment.
 */
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

/** A Lambda function URL request (payload format 2.0), reduced to what the worker reads. */
export interface FunctionUrlEvent {
  rawPath: string;
  requestContext: { http: { method: string } };
  body?: string;
  isBase64Encoded?: boolean;
}
export interface HealthCheckEvent {
  healthCheck: true;
}
export interface ProcessEvent {
  /** Object key of the image to process, e.g. `uploads/cat.png`. */
  key: string;
}
export type WorkerEvent = FunctionUrlEvent | HealthCheckEvent | ProcessEvent;

export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** Reads a secret's value by ARN; injected so tests need no AWS. */
export type SecretReader = (arn: string) => Promise<string>;

export interface WorkerDeps {
  env: NodeJS.ProcessEnv;
  readSecret: SecretReader;
}

export function secretsManagerReader(client = new SecretsManagerClient({})): SecretReader {
  return async (arn) => {
    const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (out.SecretString === undefined) throw new Error(`secret ${arn} has no string value`);
    return out.SecretString;
  };
}

const isUrlEvent = (e: WorkerEvent): e is FunctionUrlEvent =>
  typeof (e as FunctionUrlEvent).rawPath === "string" &&
  typeof (e as FunctionUrlEvent).requestContext === "object";

export function createHandler(deps: WorkerDeps) {
  // Read once per execution environment, on first use: cold starts pay for it, warm invocations do not.
  let dbSecret: Promise<string> | undefined;
  const secret = () => {
    const arn = deps.env.DB_SECRET_ARN;
    if (!arn)
      return Promise.reject(new Error("DB_SECRET_ARN is not set: declare the secret in the stack config"));
    dbSecret ??= deps.readSecret(arn).catch((err: unknown) => {
      dbSecret = undefined; // a throttled read is retried on the next invocation
      throw err;
    });
    return dbSecret;
  };
  const version = deps.env.APP_VERSION ?? "unknown";

  async function processKey(key: string) {
    if (!/^[\w./-]{1,1024}$/.test(key) || key.includes(".."))
      throw new Error(`invalid object key: ${JSON.stringify(key)}`);
    await secret(); // would open the database connection
    const name = key.split("/").pop()!;
    return { input: key, output: `${deps.env.OUTPUT_PREFIX ?? "processed/"}${name}`, version };
  }

  return async function handler(event: WorkerEvent): Promise<unknown> {
    if ("healthCheck" in event && event.healthCheck === true) {
      await secret(); // healthy means: running, and able to read its secret
      return { status: "healthy", version };
    }
    if (isUrlEvent(event)) {
      const method = event.requestContext.http.method;
      if (method === "GET" && event.rawPath === "/health") return http(200, "healthy", "text/plain");
      if (method === "POST" && event.rawPath === "/process") {
        const raw = event.isBase64Encoded
          ? Buffer.from(event.body ?? "", "base64").toString()
          : (event.body ?? "");
        let key: unknown;
        try {
          key = (JSON.parse(raw) as { key?: unknown }).key;
        } catch {
          return http(400, JSON.stringify({ error: 'body must be JSON: {"key": "uploads/…"}' }));
        }
        if (typeof key !== "string") return http(400, JSON.stringify({ error: 'missing "key"' }));
        try {
          return http(200, JSON.stringify(await processKey(key)));
        } catch (err) {
          return http(400, JSON.stringify({ error: (err as Error).message }));
        }
      }
      return http(404, JSON.stringify({ error: "not found" }));
    }
    if ("key" in event && typeof event.key === "string") return processKey(event.key);
    throw new Error(
      'unsupported event: expected {"key": "…"}, {"healthCheck": true} or a function URL request',
    );
  };
}

function http(statusCode: number, body: string, contentType = "application/json"): HttpResult {
  return { statusCode, headers: { "content-type": contentType }, body };
}

/** The entry point named by the image's CMD (`index.handler`). */
export const handler = createHandler({ env: process.env, readSecret: secretsManagerReader() });
