/** The health gate's retries: a grant still applying (401/403) is waited for, within its bound. */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { isDefiniteFailure, waitForHealthy } from "../../lib/health";

let server: http.Server | undefined;
afterEach(() => server?.close());

/** A service that answers `status` for the first `n` requests, then 200 "healthy". */
async function serve(n: number, status: number): Promise<{ url: string; requests: () => number }> {
  let count = 0;
  server = http.createServer((_req, res) => {
    count++;
    res.writeHead(count <= n ? status : 200).end(count <= n ? "Forbidden" : "healthy");
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`, requests: () => count };
}

describe("waitForHealthy", () => {
  it("waits out 403s while an invoker grant applies, without spending attempts (issue 21)", async () => {
    const s = await serve(5, 403);
    const r = await waitForHealthy({
      url: s.url,
      expectBody: "healthy",
      attempts: 2,
      delayMs: 5,
      grantPendingMs: 10_000,
    });
    expect(r).toMatchObject({ healthy: true, attempts: 1 });
    expect(s.requests()).toBe(6);
  });

  it("counts 403s as failures once the bound has passed, and says what they may mean", async () => {
    const s = await serve(100, 403);
    const r = await waitForHealthy({
      url: s.url,
      expectBody: "healthy",
      attempts: 3,
      delayMs: 5,
      grantPendingMs: 0,
    });
    expect(r.healthy).toBe(false);
    expect(s.requests()).toBe(3);
    expect(r.last).toBe(
      '403 "Forbidden" (an invoker grant of this deploy may still be applying: IAM changes take up to a few minutes; re-run to retry the release)',
    );
  });

  it("spends an attempt on any other failure, pending grant or not", async () => {
    const s = await serve(100, 503);
    const r = await waitForHealthy({ url: s.url, attempts: 3, delayMs: 5, grantPendingMs: 10_000 });
    expect(r).toMatchObject({ healthy: false, attempts: 3, last: '503 "Forbidden"' });
    expect(s.requests()).toBe(3);
  });

  it("stops at the service's own 500, twice in a row, without asking again; a gateway's 502, 503 and 504 are retried", async () => {
    const broken = await serve(100, 500);
    const r = await waitForHealthy({ url: broken.url, attempts: 10, delayMs: 5 });
    expect(r).toMatchObject({ healthy: false, attempts: 2, definite: true, last: '500 "Forbidden"' });
    expect(broken.requests()).toBe(2);
    server?.close();
    // One 500 is not enough: the next answer may be healthy.
    const once = await serve(1, 500);
    expect(
      await waitForHealthy({ url: once.url, expectBody: "healthy", attempts: 10, delayMs: 5 }),
    ).toMatchObject({
      healthy: true,
      attempts: 2,
    });
    server?.close();
    for (const status of [502, 503, 504]) {
      const starting = await serve(2, status);
      expect(
        await waitForHealthy({ url: starting.url, expectBody: "healthy", attempts: 3, delayMs: 5 }),
      ).toMatchObject({ healthy: true, attempts: 3 });
      server?.close();
    }
    expect([500, 501, 505, 599].map(isDefiniteFailure)).toEqual([true, true, true, true]);
    expect([200, 404, 429, 502, 503, 504].map(isDefiniteFailure)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it("retries Cloud Run's own 500 (no instance could take the request)", async () => {
    let count = 0;
    server = http.createServer((_req, res) => {
      count++;
      if (count <= 3)
        res.writeHead(500).end("The request was aborted because there was no available instance.");
      else res.writeHead(200).end("healthy");
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
    expect(await waitForHealthy({ url, expectBody: "healthy", attempts: 10, delayMs: 5 })).toMatchObject({
      healthy: true,
      attempts: 4,
    });
  });
});
