/**
 * What makes an image safe to hand to Cloud Run or Lambda, checked on the manifest and config the
 * registry serves (never on a local copy). Pure functions: the client fetches, these judge.
 */
import { createHash } from "node:crypto";
import { splitPlatform, type Platform } from "../platform";

export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** Everything a registry may answer for a reference, so an index is detected rather than negotiated away. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerList,
].join(", ");

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageConfig {
  os?: string;
  architecture?: string;
  variant?: string;
  rootfs?: { type?: string; diff_ids?: string[] };
}

export function sha256Digest(body: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(body).digest("hex")}`;
}

export type ManifestKind =
  | { kind: "manifest"; manifest: ImageManifest }
  | { kind: "index"; problem: string }
  | { kind: "invalid"; problem: string };

/** Decides what the registry returned: a single-platform image manifest, an index/list, or junk. */
export function classifyManifest(body: string, contentType: string | undefined): ManifestKind {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return { kind: "invalid", problem: "the registry returned a manifest that is not JSON" };
  }
  const mediaType = String(doc.mediaType ?? contentType ?? "")
    .split(";")[0]
    .trim();
  if (doc.schemaVersion === 1 || mediaType === MEDIA_TYPES.dockerSchema1) {
    return {
      kind: "invalid",
      problem: "image uses the deprecated Docker schema 1 manifest; rebuild it with a current BuildKit",
    };
  }
  if (
    Array.isArray(doc.manifests) ||
    mediaType === MEDIA_TYPES.ociIndex ||
    mediaType === MEDIA_TYPES.dockerList
  ) {
    const manifests = (Array.isArray(doc.manifests) ? doc.manifests : []) as Descriptor[];
    const attestations = manifests.filter(
      (m) =>
        m.annotations?.["vnd.docker.reference.type"] === "attestation-manifest" ||
        (m.platform?.os === "unknown" && m.platform?.architecture === "unknown"),
    ).length;
    const platforms = manifests
      .filter((m) => m.platform && m.platform.os !== "unknown")
      .map(
        (m) =>
          `${m.platform!.os}/${m.platform!.architecture}${m.platform!.variant ? `/${m.platform!.variant}` : ""}`,
      );
    const what = mediaType === MEDIA_TYPES.dockerList ? "a Docker manifest list" : "an OCI index";
    const detail =
      `${manifests.length} manifest${manifests.length === 1 ? "" : "s"}` +
      (attestations > 0 ? ` (${attestations} attestation${attestations === 1 ? "" : "s"})` : "") +
      (platforms.length > 0 ? ` for ${platforms.join(", ")}` : "");
    const fix =
      attestations > 0
        ? "rebuild without attestations (docker-build embedded mode, exec: false, no provenance/SBOM) so the registry gets a single manifest"
        : "rebuild for exactly one platform so the registry gets a single manifest";
    return {
      kind: "index",
      problem: `image is ${what} with ${detail}; Lambda and this program accept only a single-platform image manifest: ${fix}`,
    };
  }
  if (mediaType !== MEDIA_TYPES.ociManifest && mediaType !== MEDIA_TYPES.dockerManifest) {
    return { kind: "invalid", problem: `unsupported manifest media type ${JSON.stringify(mediaType)}` };
  }
  const m = doc as unknown as ImageManifest;
  if (!m.config || typeof m.config.digest !== "string" || !Array.isArray(m.layers)) {
    return { kind: "invalid", problem: "the manifest has no config descriptor or no layers list" };
  }
  return { kind: "manifest", manifest: m };
}

/**
 * The structural checks Cloud Run and Lambda make when they import an image, done first: layers > 0,
 * one diff_id per layer (seed 000), and the platform asked for (seed 001). Returns every problem found.
 */
export function checkImageConfig(manifest: ImageManifest, config: ImageConfig, platform: Platform): string[] {
  const problems: string[] = [];
  const layers = manifest.layers.length;
  const diffIds = config.rootfs?.diff_ids?.length ?? 0;
  if (layers === 0) {
    problems.push("image has no layers; rebuild it (an image without a filesystem cannot run)");
  }
  if (layers !== diffIds) {
    problems.push(
      `image has ${layers} manifest layer${layers === 1 ? "" : "s"} but ${diffIds} config diff_id${diffIds === 1 ? "" : "s"} ` +
        `(Cloud Run refuses it: "got ${layers} Manifest.Layers vs ${diffIds} ConfigFile.RootFS.DiffIDs"); ` +
        "the image is malformed: rebuild it with docker-build instead of a source deploy",
    );
  }
  const want = splitPlatform(platform);
  if (config.os !== want.os || config.architecture !== want.architecture) {
    problems.push(
      `image is built for ${config.os ?? "?"}/${config.architecture ?? "?"} but ${platform} was asked for ` +
        `(Lambda answers "The image manifest, config or layer media type for the source image is not supported"); ` +
        `rebuild it with platforms: ["${platform}"]`,
    );
  }
  return problems;
}
