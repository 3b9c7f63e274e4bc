/**
 * Image references: how a digest reference is formed and how a reference is taken apart. Every
 * component and the verifier use these, so "what is `repo@sha256:…`?" has one answer.
 */
export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

export interface ImageRef {
  /** Registry host (with port), e.g. `us-central1-docker.pkg.dev` or `127.0.0.1:5000`. */
  registry: string;
  /** Repository path inside the registry, e.g. `my-project/apps/api`. */
  repository: string;
  tag?: string;
  digest?: string;
}

export function isDigest(value: string): boolean {
  return DIGEST_PATTERN.test(value);
}

/** `<repository>@<digest>`: the only form a service is ever given. Throws on anything but a sha256 digest. */
export function digestRef(repositoryUrl: string, digest: string): string {
  if (!isDigest(digest)) {
    throw new Error(`expected a manifest digest like "sha256:<64 hex>", got ${JSON.stringify(digest)}`);
  }
  if (repositoryUrl.includes("@")) {
    throw new Error(`expected a repository without a digest, got ${JSON.stringify(repositoryUrl)}`);
  }
  return `${repositoryUrl}@${digest}`;
}

/** `<repository>:<tag>`. */
export function tagRef(repositoryUrl: string, tag: string): string {
  return `${repositoryUrl}:${tag}`;
}

/**
 * Parses `host[:port]/path[:tag][@sha256:…]`. The first path component is a registry host only when it
 * looks like one (has a `.` or `:`, or is `localhost`), as Docker decides; otherwise it is Docker Hub.
 */
export function parseImageRef(ref: string): ImageRef {
  let rest = ref.trim();
  if (rest === "") throw new Error("empty image reference");
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) {
      throw new Error(
        `image reference ${JSON.stringify(ref)} has a malformed digest ${JSON.stringify(digest)}`,
      );
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  const isHost = first !== "" && (first.includes(".") || first.includes(":") || first === "localhost");
  const registry = isHost ? first : "docker.io";
  let repository = isHost ? rest.slice(slash + 1) : rest;
  if (!isHost && !repository.includes("/")) repository = `library/${repository}`;
  if (repository === "") throw new Error(`image reference ${JSON.stringify(ref)} names no repository`);
  return { registry, repository, tag, digest };
}
