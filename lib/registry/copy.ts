/**
 * Promotion: copies one verified image, by digest, from the registry that built it (staging) into the
 * registry of the stack that deploys it (prod). The manifest bytes are copied verbatim, so the digest
 * does not change: prod runs exactly what staging verified, from a registry prod owns and protects.
 *
 * Blobs the destination already has are skipped; on the same registry host they are mounted across
 * repositories (no transfer); otherwise they are streamed from the source into the destination's
 * upload (RegistryClient.uploadStream), a few blobs at a time, so memory stays at a few stream
 * buffers whatever the layer size (the read buffers behind them are collected every few MiB:
 * ./reclaim.ts), and each request's timeout grows with what it carries. Every blob's sha256 is
 * checked on the way through, before the upload is completed. Only single-platform image manifests
 * are copied: an index is refused before anything is written.
 */
import { createHash } from "node:crypto";
import { parseImageRef } from "../image-ref";
import {
  RegistryClient,
  RegistryError,
  type ClientOptions,
  type Credentials,
  type TransferStats,
} from "./client";
import { MANIFEST_ACCEPT, classifyManifest, sha256Digest } from "./manifest-check";
import { VerificationError } from "./verify";
import type { BlobLocationCache } from "./blob-cache";
import { reclaimer } from "./reclaim";

export interface CopyOptions extends Omit<ClientOptions, "credentials"> {
  /** `registry/repository@sha256:…` to copy from. */
  source: string;
  sourceCredentials?: Credentials;
  /** `registry/repository` to copy into (no tag, no digest). */
  destination: string;
  destinationCredentials?: Credentials;
  /** Mount blobs across repositories when both are on one registry host. @default true */
  mount?: boolean;
  /**
   * Where blobs were seen before: a blob the destination repository lacks is mounted from another
   * repository of the destination registry that holds it, with no transfer (see ./blob-cache).
   * @default - none: only the source repository is tried, on the same host
   */
  blobCache?: BlobLocationCache;
  /** Blobs copied at once. @default 3 */
  concurrency?: number;
  /**
   * Bytes read between two young-generation collections, which free the read buffers behind the
   * copy (./reclaim.ts); 0 leaves it to V8. @default 4 MiB
   */
  reclaimEveryBytes?: number;
}

/** What {@link CopyOptions.reclaimEveryBytes} defaults to (exploratory runs: bench/README.md "Promotion memory"). */
export const RECLAIM_EVERY_BYTES = 4 * 1024 * 1024;

/** Passes a stream through, hashing and counting what goes by; `read` hears of each piece. */
async function* hashing(
  stream: ReadableStream<Uint8Array>,
  hash: ReturnType<typeof createHash>,
  count: { bytes: number },
  read: (bytes: number) => void,
): AsyncGenerator<Uint8Array> {
  for await (const piece of stream as unknown as AsyncIterable<Uint8Array>) {
    hash.update(piece);
    count.bytes += piece.length;
    read(piece.length);
    yield piece;
  }
}

/** Runs `work` over `items`, at most `limit` at a time; the first failure rejects. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export interface CopyResult {
  /** `destination@digest`. */
  ref: string;
  digest: string;
  blobs: { total: number; present: number; mounted: number; uploaded: number; uploadedBytes: number };
  stats: { source: TransferStats; destination: TransferStats };
}

export async function copyImage(options: CopyOptions): Promise<CopyResult> {
  const src = parseImageRef(options.source);
  if (!src.digest) {
    throw new VerificationError(options.source, [
      "promotion copies by digest only; pass repository@sha256:<digest>",
    ]);
  }
  const dst = parseImageRef(options.destination);
  if (dst.digest || dst.tag) {
    throw new VerificationError(options.destination, [
      "the destination is a repository, without tag or digest",
    ]);
  }
  const {
    source: _s,
    destination: _d,
    sourceCredentials,
    destinationCredentials,
    blobCache,
    reclaimEveryBytes = RECLAIM_EVERY_BYTES,
    ...clientOptions
  } = options;
  const reclaim = reclaimer(reclaimEveryBytes);
  const from = new RegistryClient(src.registry, { ...clientOptions, credentials: sourceCredentials });
  const to = new RegistryClient(dst.registry, { ...clientOptions, credentials: destinationCredentials });
  const ref = `${dst.registry}/${dst.repository}@${src.digest}`;

  const manifest = await from.getManifest(src.repository, src.digest, MANIFEST_ACCEPT);
  if (manifest.status === 404) {
    throw new VerificationError(options.source, [
      `manifest unknown: ${src.registry}/${src.repository} has no manifest ${src.digest}; ` +
        "was it deleted by a cleanup policy in the source registry? Re-deploy the source stack at that commit",
    ]);
  }
  if (manifest.status !== 200) throw from.fail(manifest.status, `GET manifest ${src.digest}`, manifest.body);
  if (sha256Digest(manifest.body) !== src.digest) {
    throw new VerificationError(options.source, [
      `the source registry returned a manifest whose sha256 is ${sha256Digest(manifest.body)}, not ${src.digest}`,
    ]);
  }
  const kind = classifyManifest(manifest.body.toString("utf8"), manifest.contentType);
  if (kind.kind !== "manifest") throw new VerificationError(options.source, [kind.problem]);

  const descriptors = [kind.manifest.config, ...kind.manifest.layers];
  const sameHost = src.registry === dst.registry;
  const blobs = { total: descriptors.length, present: 0, mounted: 0, uploaded: 0, uploadedBytes: 0 };
  const seen = (digest: string) => {
    blobCache?.record(src.registry, src.repository, digest);
    blobCache?.record(dst.registry, dst.repository, digest);
  };
  await eachLimited(descriptors, Math.max(1, options.concurrency ?? 3), async (d) => {
    if (await to.hasBlob(dst.repository, d.digest)) {
      blobs.present++;
      seen(d.digest);
      return;
    }
    // Repositories of the destination registry that hold the blob: the source's on one host, then
    // those the cache remembers, at most three tries (each declined mount costs one request).
    const mountFrom =
      options.mount === false
        ? []
        : [
            ...new Set([
              ...(sameHost ? [src.repository] : []),
              ...(blobCache?.candidates(dst.registry, d.digest) ?? []),
            ]),
          ]
            .filter((r) => r !== dst.repository)
            .slice(0, 3);
    for (const from of mountFrom) {
      if (await to.mountBlob(dst.repository, d.digest, from)) {
        blobs.mounted++;
        seen(d.digest);
        return;
      }
    }
    // One retry of a short read: a new GET and a new upload (the abandoned one expires, unwritten).
    for (let attempt = 1; ; attempt++) {
      const hash = createHash("sha256");
      const count = { bytes: 0 };
      const source = await from.openBlob(src.repository, d.digest, d.size);
      let short = false;
      // Never completed with other bytes: the check throws before the PUT, and the upload expires.
      try {
        await to.uploadStream(dst.repository, d.digest, d.size, hashing(source, hash, count, reclaim), () => {
          if (count.bytes < d.size) {
            short = true;
            throw new RegistryError(
              `the transfer of blob ${d.digest} from ${src.registry} ended after ${count.bytes} of ${d.size} bytes ` +
                `(attempt ${attempt} of 2); nothing was written to ${dst.registry}: run the promotion again`,
            );
          }
          const got = `sha256:${hash.digest("hex")}`;
          if (got !== d.digest || count.bytes !== d.size) {
            throw new VerificationError(options.source, [
              `blob ${d.digest} read back as ${got} (${count.bytes} bytes, the manifest says ${d.size}); the source registry is corrupt`,
            ]);
          }
        });
      } catch (err) {
        if (short && attempt < 2) continue;
        throw err;
      }
      blobs.uploadedBytes += count.bytes;
      break;
    }
    blobs.uploaded++;
    seen(d.digest);
  });
  // Same bytes, same digest. Putting by digest never touches a tag, so immutable registries accept
  // a re-run; the tag is added by verification, after the copy is checked.
  await to.putManifest(
    dst.repository,
    src.digest,
    manifest.body,
    kind.manifest.mediaType ?? manifest.contentType ?? "",
  );
  blobCache?.save();
  return { ref, digest: src.digest, blobs, stats: { source: from.stats, destination: to.stats } };
}
