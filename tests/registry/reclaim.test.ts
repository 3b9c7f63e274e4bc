/**
 * The copy frees the read buffers behind it as it goes (lib/registry/reclaim.ts, issue 25). The
 * cadence is counted exactly with a counting collector; that the real collector collects, and that
 * copyImage collects as it reads, with the collector's own reports (perf_hooks "gc" entries).
 */
import { randomBytes } from "node:crypto";
import { PerformanceObserver } from "node:perf_hooks";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { copyImage } from "../../lib/registry/copy";
import { collector, reclaimer, type Collect } from "../../lib/registry/reclaim";
import { pushImage, requireRegistry, type RegistryTarget } from "../../tools/image-fixtures";

const MiB = 1024 * 1024;

/** The collections V8 reports while `work` runs (all kinds). */
async function collectionsDuring(work: () => unknown): Promise<number> {
  let n = 0;
  const observer = new PerformanceObserver((list) => (n += list.getEntries().length));
  observer.observe({ entryTypes: ["gc"] });
  await work();
  await new Promise((r) => setTimeout(r, 50));
  observer.disconnect();
  return n;
}

/** A collector that counts its calls. */
function counting(): Collect & { calls: string[] } {
  const calls: string[] = [];
  return Object.assign((o: { type: string }) => void calls.push(o.type), { calls });
}

describe("reclaimer", () => {
  it("runs a minor collection each time another everyBytes have been read", () => {
    const gc = counting();
    const read = reclaimer(4 * MiB, gc);
    for (let i = 0; i < 10; i++) read(MiB);
    expect(gc.calls).toEqual(["minor", "minor"]);
  });

  it("keeps the remainder, so pieces of any size keep the cadence", () => {
    const gc = counting();
    const read = reclaimer(MiB, gc);
    // 1,000 pieces of 96 KiB are 93.75 MiB: 93 collections, whatever the pieces' sizes.
    for (let i = 0; i < 1000; i++) read(96 * 1024);
    expect(gc.calls).toHaveLength(93);
  });

  it("never collects at 0, nor without a collector", () => {
    const gc = counting();
    const off = reclaimer(0, gc);
    for (let i = 0; i < 100; i++) off(MiB);
    expect(gc.calls).toEqual([]);
    expect(() => reclaimer(MiB, null)(10 * MiB)).not.toThrow();
  });

  it("reaches V8's collector in this Node", async () => {
    const gc = collector();
    expect(gc).toBeTypeOf("function");
    expect(await collectionsDuring(() => gc!({ type: "minor" }))).toBeGreaterThanOrEqual(1);
  });
});

describe("copyImage", () => {
  let t: RegistryTarget;
  beforeAll(() => {
    t = requireRegistry(inject("registry"));
  });

  it("collects behind what it reads, every reclaimEveryBytes (CopyOptions), and not at 0", async () => {
    const { digest } = await pushImage(t, "reclaim/src", {
      architecture: "amd64",
      layers: [randomBytes(8 * MiB)],
    });
    const creds = { username: t.username, password: t.password };
    const copy = (into: string, reclaimEveryBytes: number) =>
      collectionsDuring(() =>
        copyImage({
          source: `${t.host}/reclaim/src@${digest}`,
          destination: `${t.host}/reclaim/${into}-${Date.now()}`,
          sourceCredentials: creds,
          destinationCredentials: creds,
          mount: false,
          reclaimEveryBytes,
        }),
      );
    const off = await copy("off", 0);
    const on = await copy("on", 128 * 1024);
    // 8 MiB read, one collection per 128 KiB: 64 of its own, and V8 then needs fewer of its own.
    expect(on - off).toBeGreaterThanOrEqual(48);
  });
});
