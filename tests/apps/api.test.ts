import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApi } from "../../apps/api/src/server";

const server = createApi({ version: "a".repeat(40), apiKeyConfigured: true });
let base = "";
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("sample api", () => {
  it("answers the health gate's exact expectation on /health", async () => {
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("healthy");
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("reports its version and whether the secret arrived, never the secret", async () => {
    const res = await fetch(`${base}/`);
    expect(await res.json()).toEqual({ service: "api", version: "a".repeat(40), apiKeyConfigured: true });
  });

  it("answers 404 for unknown paths and 405 for writes", async () => {
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const post = await fetch(`${base}/health`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });
});
