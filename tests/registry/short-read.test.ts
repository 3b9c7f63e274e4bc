/**
 * Issue 25: a blob whose transfer ends early is a transfer failure, not a corrupt source. A proxy in
 * front of the real registry ends a layer's GET cleanly after half its bytes (chunked, so the client
 * sees an orderly end, as it did when the stream was cancelled): the copy opens it again and uploads
 * anew, once; if that ends early too, the message says how many bytes came, of how many, and that
 * nothing was written. A source whose full bytes hash to something else is still "corrupt".
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { copyImage } from "../../lib/registry/copy";
import { pushImage, type RegistryTarget, requireRegistry } from "../../tools/image-fixtures";
import { startRegistryProxy, type RegistryProxy } from "../../tools/registry-proxy";

let t: RegistryTarget;
let proxy: RegistryProxy;
let proxyHost = "";
/** How many more GETs of `layer` are cut short; GETs of it seen. */
const cut = { layer: "", remaining: 0, seen: 0, corrupt: false };

beforeAll(async () => {
  t = requireRegistry(inject("registry"));
  proxy = await startRegistryProxy(t.host, (req, res, forward) => {
    const isLayer = req.method === "GET" && cut.layer !== "" && req.url?.endsWith(`/blobs/${cut.layer}`);
    if (!isLayer) return forward();
    forward((up) => {
      if (up.statusCode !== 200) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      cut.seen++;
      const chunks: Buffer[] = [];
      up.on("data", (d: Buffer) => chunks.push(d));
      up.on("end", () => {
        const body = Buffer.concat(chunks);
        const { "content-length": _length, ...headers } = up.headers;
        if (cut.corrupt) {
          // Every byte, but not the bytes the digest names.
          body[0] = body[0]! ^ 0xff;
          res.writeHead(200, up.headers).end(body);
        } else if (cut.remaining > 0) {
          cut.remaining--;
          res.writeHead(200, headers).end(body.subarray(0, Math.floor(body.length / 2)));
        } else {
          res.writeHead(200, up.headers).end(body);
        }
      });
    });
  });
  proxyHost = proxy.host;
});
afterAll(() => proxy.close());

const creds = () => ({ username: t.username, password: t.password });

async function source(name: string) {
  const layer = randomBytes(256 * 1024 + 1);
  const { digest } = await pushImage(t, `short/${name}`, { architecture: "amd64", layers: [layer] });
  const { createHash } = await import("node:crypto");
  cut.layer = `sha256:${createHash("sha256").update(layer).digest("hex")}`;
  cut.seen = 0;
  return { digest, size: layer.length };
}
const copy = (name: string, digest: string) =>
  copyImage({
    source: `${proxyHost}/short/${name}@${digest}`,
    destination: `${t.host}/short-dst/${name}-${Date.now()}`,
    sourceCredentials: creds(),
    destinationCredentials: creds(),
    mount: false,
  });

describe("a blob transfer that ends early (issue 25)", () => {
  it("is retried once with a new GET and a new upload, and the copy succeeds", async () => {
    const { digest } = await source("once");
    cut.remaining = 1;
    const result = await copy("once", digest);
    expect(cut.seen).toBe(2);
    expect(result.blobs).toMatchObject({ total: 2, uploaded: 2 });
  });

  it("twice fails as a transfer failure, with the bytes seen and expected, nothing written", async () => {
    const { digest, size } = await source("twice");
    cut.remaining = 2;
    await expect(copy("twice", digest)).rejects.toThrow(
      `the transfer of blob ${cut.layer} from ${proxyHost} ended after ${Math.floor(size / 2)} of ${size} bytes (attempt 2 of 2); nothing was written to ${t.host}: run the promotion again`,
    );
    expect(cut.seen).toBe(2);
  });

  it("a blob whose full bytes hash to another digest is still reported as a corrupt source", async () => {
    const { digest } = await source("corrupt");
    cut.corrupt = true;
    try {
      await expect(copy("corrupt", digest)).rejects.toThrow(/the source registry is corrupt/);
    } finally {
      cut.corrupt = false;
    }
  });
});
