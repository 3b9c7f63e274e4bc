import { describe, expect, it } from "vitest";
import { createHandler, type FunctionUrlEvent } from "../../apps/worker/src/handler";

const ARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:staging/worker/db-AbCdEf";
const SHA = "b".repeat(40);

function worker(env: Record<string, string | undefined> = { DB_SECRET_ARN: ARN, APP_VERSION: SHA }) {
  const reads: string[] = [];
  let fail = 0;
  const handler = createHandler({
    env,
    readSecret: async (arn) => {
      reads.push(arn);
      if (fail > 0) {
        fail--;
        throw new Error("ThrottlingException");
      }
      return "postgres://user:pw@db/app";
    },
  });
  return { handler, reads, failNext: (n: number) => (fail = n) };
}

const url = (method: string, rawPath: string, body?: string): FunctionUrlEvent => ({
  rawPath,
  requestContext: { http: { method } },
  body,
});

describe("sample worker", () => {
  it("passes the deploy's smoke test only when it can read its secret by ARN", async () => {
    const { handler, reads } = worker();
    await expect(handler({ healthCheck: true })).resolves.toEqual({ status: "healthy", version: SHA });
    expect(reads).toEqual([ARN]);

    const { handler: noSecret } = worker({ APP_VERSION: SHA });
    await expect(noSecret({ healthCheck: true })).rejects.toThrow(/DB_SECRET_ARN is not set/);
  });

  it("reads the secret once per execution environment, and again after a failed read", async () => {
    const { handler, reads, failNext } = worker();
    failNext(1);
    await expect(handler({ key: "uploads/a.png" })).rejects.toThrow("ThrottlingException");
    await handler({ key: "uploads/a.png" });
    await handler({ key: "uploads/b.png" });
    expect(reads).toEqual([ARN, ARN]);
  });

  it("answers GET /health through a function URL", async () => {
    const { handler } = worker();
    await expect(handler(url("GET", "/health"))).resolves.toEqual({
      statusCode: 200,
      headers: { "content-type": "text/plain" },
      body: "healthy",
    });
    expect(((await handler(url("GET", "/other"))) as { statusCode: number }).statusCode).toBe(404);
  });

  it("processes a key into the output prefix and rejects path tricks", async () => {
    const { handler } = worker({ DB_SECRET_ARN: ARN, APP_VERSION: SHA, OUTPUT_PREFIX: "done/" });
    await expect(handler({ key: "uploads/cat.png" })).resolves.toEqual({
      input: "uploads/cat.png",
      output: "done/cat.png",
      version: SHA,
    });
    const bad = (await handler(url("POST", "/process", JSON.stringify({ key: "../etc/passwd" })))) as {
      statusCode: number;
      body: string;
    };
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).error).toBe('invalid object key: "../etc/passwd"');
  });
});
