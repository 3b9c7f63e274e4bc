/** The one retry policy and clock every release call, poll and wait goes through. */
import { describe, expect, it } from "vitest";
import { backoffMs, DeadlineError, pollUntil, retrying, virtualClock } from "../../../lib/release/retry";
import { isTransient } from "../../../lib/release/transient";

const policy = { initialMs: 1000, maxDelayMs: 16_000, deadlineMs: 60_000, jitter: 0 };

describe("retries", () => {
  it("backs off exponentially to a cap, with jitter below the full wait", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(policy, n))).toEqual([
      1000, 2000, 4000, 8000, 16000, 16000,
    ]);
    expect(backoffMs({ ...policy, jitter: 1 }, 3, () => 0.25)).toBe(1000);
  });

  it("retries transient errors until the call succeeds", async () => {
    const clock = virtualClock();
    let calls = 0;
    const value = await retrying("read", { clock, policy, transient: () => true }, async () => {
      if (++calls < 3) throw new Error("503");
      return "ok";
    });
    expect(value).toBe("ok");
    expect(clock.slept).toEqual([1000, 2000]);
  });

  it("never waits past its deadline, then says what kept failing", async () => {
    const clock = virtualClock();
    const err = await retrying(
      "move traffic",
      { clock, policy: { ...policy, deadlineMs: 10_000 }, transient: () => true },
      async () => {
        throw Object.assign(new Error("429 Too Many Requests"), { status: 429 });
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineError);
    expect((err as Error).message).toBe(
      "move traffic: still failing after 5 tries (last: Error: 429 Too Many Requests)",
    );
    expect(clock.slept).toEqual([1000, 2000, 4000, 3000]);
  });

  it("throws a refusal at once", async () => {
    const clock = virtualClock();
    await expect(
      retrying("x", { clock, policy, transient: isTransient }, async () => {
        throw Object.assign(new Error("denied"), { status: 403 });
      }),
    ).rejects.toThrow("denied");
    expect(clock.slept).toEqual([]);
  });

  it.each<[string, unknown, boolean]>([
    ["Google 429 (gaxios status)", { status: 429 }, true],
    ["Google 503 (gaxios response)", { response: { status: 503 } }, true],
    [
      "Lambda TooManyRequestsException",
      { name: "TooManyRequestsException", $metadata: { httpStatusCode: 429 } },
      true,
    ],
    ["Lambda ResourceConflictException (an update in progress)", { name: "ResourceConflictException" }, true],
    [
      "Lambda PreconditionFailedException (someone else wrote)",
      { name: "PreconditionFailedException", $metadata: { httpStatusCode: 412 } },
      false,
    ],
    ["a dropped connection", { code: "ECONNRESET" }, true],
    [
      "undici's fetch failed",
      Object.assign(new TypeError("fetch failed"), { cause: { code: "UND_ERR_SOCKET" } }),
      true,
    ],
    ["a 400", { status: 400 }, false],
    ["a 404", { $metadata: { httpStatusCode: 404 } }, false],
  ])("%s is transient: %s", (_, err, expected) => {
    expect(isTransient(err)).toBe(expected);
  });
});

describe("polls", () => {
  it("polls until done, and stops at its deadline", async () => {
    const clock = virtualClock();
    let n = 0;
    expect(
      await pollUntil(
        "op",
        clock,
        { intervalMs: 2000, deadlineMs: 60_000 },
        async () => ++n,
        (x) => x >= 3,
      ),
    ).toBe(3);
    await expect(
      pollUntil(
        "Cloud Run operation op-1",
        clock,
        { intervalMs: 2000, deadlineMs: 5000 },
        async () => false,
        (x) => x,
      ),
    ).rejects.toThrow("Cloud Run operation op-1: not done after 4 polls in 5 s");
  });
});
