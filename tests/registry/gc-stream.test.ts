/**
 * Issue 25: a blob opened with openBlob and read later must not lose its bytes to the garbage
 * collector. undici registers each fetch Response in a FinalizationRegistry that cancels the body
 * stream when the Response is collected while the body is still unlocked and unread; openBlob
 * returns only `res.body`, and copyImage first awaits the destination's POST, so a GC landing in
 * that window emptied the stream (0 bytes read, reported as a corrupt source). Here the GC is forced
 * into that window, so the test fails every time the bug is there, not by chance.
 */
import { randomBytes } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { RegistryClient } from "../../lib/registry/client";
import { copyImage } from "../../lib/registry/copy";
import { verifyImage } from "../../lib/registry/verify";
import { pushBlob, pushImage, type RegistryTarget, requireRegistry } from "../../tools/image-fixtures";

// global.gc without --expose-gc on the command line (vitest's forks do not pass it).
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** A full collection, then a turn of the event loop so FinalizationRegistry callbacks run. */
async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
}

let t: RegistryTarget;
beforeAll(() => {
  t = requireRegistry(inject("registry"));
});
afterEach(() => {
  vi.restoreAllMocks();
});
const creds = () => ({ username: t.username, password: t.password });

describe("a blob stream survives a garbage collection before it is read (issue 25)", () => {
  it("openBlob: the stream still yields every byte when a GC runs before the first read", async () => {
    const blob = randomBytes(1024 * 1024 + 3);
    const { digest, size } = await pushBlob(t, "gc/open", blob);
    const client = new RegistryClient(t.host, { credentials: creds() });
    const stream = await client.openBlob("gc/open", digest, size);
    await collectGarbage();
    const parts: Buffer[] = [];
    for await (const piece of stream as unknown as AsyncIterable<Uint8Array>) parts.push(Buffer.from(piece));
    const read = Buffer.concat(parts);
    expect(read.length).toBe(blob.length);
    expect(read.equals(blob)).toBe(true);
  });

  it("copyImage: a GC between opening the source blob and streaming it into the upload loses nothing", async () => {
    const layers = [randomBytes(4 * 1024 * 1024 + 5)];
    const { digest } = await pushImage(t, "gc/staging", { architecture: "amd64", layers });
    // The window of issue 25: openBlob has returned, uploadStream has not read yet (it awaits its POST).
    const upload = RegistryClient.prototype.uploadStream;
    const spy = vi.spyOn(RegistryClient.prototype, "uploadStream").mockImplementation(async function (
      this: RegistryClient,
      ...args: Parameters<typeof upload>
    ) {
      await collectGarbage();
      return upload.apply(this, args);
    });
    const result = await copyImage({
      source: `${t.host}/gc/staging@${digest}`,
      destination: `${t.host}/gc/prod-${Date.now()}`,
      sourceCredentials: creds(),
      destinationCredentials: creds(),
      mount: false,
    });
    expect(spy).toHaveBeenCalledTimes(2);
    expect(result.blobs).toMatchObject({ total: 2, uploaded: 2 });
    await expect(
      verifyImage({ ref: result.ref, platform: "linux/amd64", credentials: creds() }),
    ).resolves.toMatchObject({ digest, layers: 1 });
  });
});
