/**
 * The copy frees the read buffers behind it as it goes (lib/registry/reclaim.ts, issue 25): a
 * young-generation collection runs after every `everyBytes` read, and none when it is 0. Counted
 * with the collector's own reports (perf_hooks "gc" entries), not timed.
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { copyImage } from "../../lib/registry/copy";
import { reclaimer } from "../../lib/registry/reclaim";
import { pushImage, requireRegistry, type RegistryTarget } from "../../tools/image-fixtures";

const MiB = 1024 * 1024;

/** The minor collections that ran while `work` did, as V8 reports them. */
async function minorCollectionsDuring(work: () => unknown): Promise<number> {
  let minor = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (
        (entry as unknown as { detail: { kind: number } }).detail.kind === constants.NODE_PERFORMANCE_GC_MINOR
      )
        minor++;
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  await work();
  await new Promise((r) => setTimeout(r, 50));
  observer.disconnect();
  return minor;
}

describe("reclaimer", () => {
  it("runs a minor collection after every everyBytes read", async () => {
    const read = reclaimer(4 * MiB);
    // 10 reads of 1 MiB: collections after the 4th and the 8th.
    const minor = await minorCollectionsDuring(() => {
      for (let i = 0; i < 10; i++) read(MiB);
    });
    // V8 may add one of its own (the loop allocates nothing, so rarely), never fewer.
    expect(minor).toBeGreaterThanOrEqual(2);
    expect(minor).toBeLessThanOrEqual(3);
  });

  it("counts across pieces of any size, and 0 never collects", async () => {
    const off = reclaimer(0);
    const withOff = await minorCollectionsDuring(() => {
      for (let i = 0; i < 1000; i++) off(64 * 1024);
    });
    const on = reclaimer(MiB);
    const withOn = await minorCollectionsDuring(() => {
      for (let i = 0; i < 1000; i++) on(64 * 1024); // 62.5 MiB in 64 KiB pieces: 62 collections
    });
    expect(withOn - withOff).toBeGreaterThanOrEqual(60);
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
      minorCollectionsDuring(() =>
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
    // 8 MiB read in steps of 128 KiB: 64 collections of its own; V8 runs no more of its own then.
    expect(on - off).toBeGreaterThanOrEqual(40);
  });
});
