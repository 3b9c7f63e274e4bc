/**
 * Verifies a pushed image by reading it back from the registry (manifest and config only, never the
 * layers) before any service may use it, then publishes its commit tag.
 */
import { UserError } from "../errors";
import { isDigest, parseImageRef } from "../image-ref";
import type { Platform } from "../platform";
import { RegistryClient, RegistryError, type ClientOptions, type TransferStats } from "./client";
import {
  MANIFEST_ACCEPT,
  checkImageConfig,
  classifyManifest,
  sha256Digest,
  type ImageConfig,
} from "./manifest-check";

export class VerificationError extends UserError {
  constructor(ref: string, problems: readonly string[]) {
    super(`image ${ref} failed verification; it was not deployed`, problems);
    this.name = "VerificationError";
  }
}

export interface VerifyOptions extends ClientOptions {
  /** `registry/repository@sha256:…`; a tag alongside the digest is ignored. */
  ref: string;
  platform: Platform;
  /**
   * After verification, make this tag point at the verified digest: created when absent, accepted when
   * it already points there, an error when it points elsewhere (tags are immutable). Pushing the image
   * by digest and tagging it here is what makes a re-run at the same commit safe: a registry with
   * immutable tags refuses a second push of an existing tag, even of identical content (ECR).
   */
  ensureTag?: string;
}

export interface VerifyResult {
  ref: string;
  digest: string;
  mediaType: string;
  layers: number;
  platform: string;
  /** `created` or `existing` when ensureTag was given. */
  tag?: { name: string; state: "created" | "existing" };
  stats: TransferStats;
}

export async function verifyImage(options: VerifyOptions): Promise<VerifyResult> {
  const { ref, platform } = options;
  const parsed = parseImageRef(ref);
  if (!parsed.digest) {
    throw new VerificationError(ref, [
      `the reference is not pinned by digest; pass repository@sha256:<digest> (the registry's manifest digest from the push)`,
    ]);
  }
  const client = new RegistryClient(parsed.registry, options);
  const manifest = await client.getManifest(parsed.repository, parsed.digest, MANIFEST_ACCEPT);
  if (manifest.status === 404) {
    throw new VerificationError(ref, [
      `manifest unknown: ${parsed.registry}/${parsed.repository} has no manifest ${parsed.digest}; ` +
        "pin the manifest digest the registry returned for the push (not a local image id or a config digest)",
    ]);
  }
  if (manifest.status !== 200)
    throw client.fail(manifest.status, `GET manifest ${parsed.repository}@${parsed.digest}`, manifest.body);

  const problems: string[] = [];
  const served = sha256Digest(manifest.body);
  if (manifest.digest && manifest.digest !== parsed.digest) {
    problems.push(
      `the registry's Docker-Content-Digest is ${manifest.digest}, not the pinned ${parsed.digest}`,
    );
  }
  if (served !== parsed.digest) {
    problems.push(`the manifest served hashes to ${served}, not the pinned ${parsed.digest}`);
  }
  const kind = classifyManifest(manifest.body.toString("utf8"), manifest.contentType);
  if (kind.kind !== "manifest") throw new VerificationError(ref, [...problems, kind.problem]);

  const configDigest = kind.manifest.config.digest;
  if (!isDigest(configDigest))
    throw new VerificationError(ref, [
      ...problems,
      `the manifest's config digest ${JSON.stringify(configDigest)} is malformed`,
    ]);
  const blob = await client.getBlob(parsed.repository, configDigest);
  if (blob.status === 404) {
    throw new VerificationError(ref, [
      ...problems,
      `the image config blob ${configDigest} is missing from the registry; push the image again`,
    ]);
  }
  if (blob.status !== 200) throw client.fail(blob.status, `GET blob ${configDigest}`);
  if (sha256Digest(blob.body) !== configDigest) {
    problems.push(`the config blob served for ${configDigest} hashes to ${sha256Digest(blob.body)}`);
  }
  let config: ImageConfig;
  try {
    config = JSON.parse(blob.body.toString("utf8")) as ImageConfig;
  } catch {
    throw new VerificationError(ref, [...problems, `the image config ${configDigest} is not JSON`]);
  }
  problems.push(...checkImageConfig(kind.manifest, config, platform));
  if (problems.length > 0) throw new VerificationError(ref, problems);

  const mediaType = (kind.manifest.mediaType ?? manifest.contentType ?? "").split(";")[0];
  const result: VerifyResult = {
    ref,
    digest: parsed.digest,
    mediaType,
    layers: kind.manifest.layers.length,
    platform: `${config.os}/${config.architecture}`,
    stats: client.stats,
  };
  if (options.ensureTag) {
    const existing = await client.headManifest(parsed.repository, options.ensureTag, MANIFEST_ACCEPT);
    if (existing === undefined) {
      await client.putManifest(parsed.repository, options.ensureTag, manifest.body, mediaType);
      result.tag = { name: options.ensureTag, state: "created" };
    } else if (existing === parsed.digest) {
      result.tag = { name: options.ensureTag, state: "existing" };
    } else {
      throw new VerificationError(ref, [
        `tag ${options.ensureTag} already points at ${existing} and tags are immutable; an earlier build of the same ` +
          "commit and inputs produced different content (a build that is not reproducible). Deploy a new commit " +
          "(e.g. `git commit --allow-empty -m rebuild`) to get a fresh tag",
      ]);
    }
  }
  return result;
}

export { RegistryError };
