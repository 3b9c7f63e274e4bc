/**
 * Promotion: copies one verified image, by digest, from the registry that built it (staging) into the
 * registry of the stack that deploys it (prod). The manifest bytes are copied verbatim, so the digest
 * does not change: prod runs exactly what staging verified, from a registry prod owns and protects.
 *
 * Blobs the destination already has are skipped; on the same registry host they are mounted across
 * repositories (no transfer); otherwise they are read from the source and uploaded, one blob at a time
 * (each is held in memory while it is copied). Only single-platform image manifests are copied: an
 * index is refused before anything is written.
 */
import { parseImageRef } from "../image-ref";
import { RegistryClient, type ClientOptions, type Credentials, type TransferStats } from "./client";
import { MANIFEST_ACCEPT, classifyManifest, sha256Digest } from "./manifest-check";
import { VerificationError } from "./verify";

export interface CopyOptions extends Omit<ClientOptions, "credentials"> {
  /** `registry/repository@sha256:…` to copy from. */
  source: string;
  sourceCredentials?: Credentials;
  /** `registry/repository` to copy into (no tag, no digest). */
  destination: string;
  destinationCredentials?: Credentials;
  /** Mount blobs across repositories when both are on one registry host. @default true */
  mount?: boolean;
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
    ...clientOptions
  } = options;
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
  for (const d of descriptors) {
    if (await to.hasBlob(dst.repository, d.digest)) {
      blobs.present++;
      continue;
    }
    if (
      sameHost &&
      options.mount !== false &&
      (await to.mountBlob(dst.repository, d.digest, src.repository))
    ) {
      blobs.mounted++;
      continue;
    }
    const blob = await from.getBlob(src.repository, d.digest);
    if (blob.status !== 200) throw from.fail(blob.status, `GET blob ${d.digest}`, blob.body);
    if (sha256Digest(blob.body) !== d.digest) {
      throw new VerificationError(options.source, [
        `blob ${d.digest} read back with a different sha256; the source registry is corrupt`,
      ]);
    }
    await to.uploadBlob(dst.repository, d.digest, blob.body);
    blobs.uploaded++;
    blobs.uploadedBytes += blob.body.length;
  }
  // Same bytes, same digest. Putting by digest never touches a tag, so immutable registries accept
  // a re-run; the tag is added by verification, after the copy is checked.
  await to.putManifest(
    dst.repository,
    src.digest,
    manifest.body,
    kind.manifest.mediaType ?? manifest.contentType ?? "",
  );
  return { ref, digest: src.digest, blobs, stats: { source: from.stats, destination: to.stats } };
}
