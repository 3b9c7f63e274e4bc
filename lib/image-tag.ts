/**
 * How images are named in the registry. Tags are immutable, so a tag must name exactly one build:
 *
 *   <commit sha>-<arch>-<inputs>              e.g. 3f2a…9c1d-arm64-7e1f0a2b
 *   <commit sha>-dirty-<changes>-<arch>-<inputs>
 *
 * `<inputs>` is a short hash of everything besides the commit that shapes the build (platform,
 * Dockerfile, context, build args, target), so changing a build arg with `pulumi config set` at the
 * same commit gives a new tag instead of a rejected push. `<changes>` hashes the uncommitted edits, so
 * two dirty builds never share a tag. Nothing here reads the clock: the same commit and inputs give
 * the same tag, and `pulumi up` on an unchanged commit proposes no change.
 */
import { createHash } from "node:crypto";
import stringify from "safe-stable-stringify";
import type { CommitInfo } from "./commit";
import { platformTagSuffix, type Platform } from "./platform";

export interface BuildInputs {
  platform: Platform;
  /** Build context, relative to the project. */
  context: string;
  /** Dockerfile, relative to the context. */
  dockerfile: string;
  buildArgs: Record<string, string>;
  buildTarget?: string;
}

/** Prefix of the mutable build-cache tags; registries exempt exactly these from tag immutability. */
export const CACHE_TAG_PREFIX = "buildcache-";

/** 8 hex characters of sha256 over the canonical JSON of the build inputs (key order does not matter). */
export function buildInputsHash(inputs: BuildInputs): string {
  const canonical = stringify({ ...inputs, buildTarget: inputs.buildTarget ?? null });
  return createHash("sha256")
    .update(canonical ?? "")
    .digest("hex")
    .slice(0, 8);
}

export function imageTag(commit: CommitInfo, inputs: BuildInputs): string {
  const dirty = commit.dirty ? `-dirty-${commit.dirtyHash ?? "unknown"}` : "";
  return `${commit.sha}${dirty}-${platformTagSuffix(inputs.platform)}-${buildInputsHash(inputs)}`;
}

/** The mutable tag BuildKit's registry cache is written to, one per service and platform. */
export function cacheTag(service: string, platform: Platform): string {
  return `${CACHE_TAG_PREFIX}${service}-${platformTagSuffix(platform)}`;
}

/**
 * OCI annotations as image labels. No created/timestamp label: a wall-clock value would make every
 * build differ; the build's time comes from SOURCE_DATE_EPOCH, the commit time.
 */
export function ociLabels(
  commit: CommitInfo,
  tag: string,
  sourceUrl: string | undefined,
): Record<string, string> {
  const labels: Record<string, string> = {
    "org.opencontainers.image.revision": commit.sha,
    "org.opencontainers.image.version": tag,
  };
  if (sourceUrl) labels["org.opencontainers.image.source"] = sourceUrl;
  return labels;
}
