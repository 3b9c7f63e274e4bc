/**
 * Pushes test images to the registry with plain HTTP uploads (the distribution API's monolithic blob
 * upload and manifest PUT), so each test can put exactly the broken image it needs in place.
 */
import { createHash } from "node:crypto";
import type { RegistryClient } from "../lib/registry/client";
import { MEDIA_TYPES } from "../lib/registry/manifest-check";

export interface RegistryTarget {
  host: string;
  username: string;
  password: string;
}

const digestOf = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

function authHeader(t: RegistryTarget) {
  return { authorization: `Basic ${Buffer.from(`${t.username}:${t.password}`).toString("base64")}` };
}

export async function pushBlob(
  t: RegistryTarget,
  repo: string,
  body: Buffer,
): Promise<{ digest: string; size: number }> {
  const digest = digestOf(body);
  const start = await fetch(`http://${t.host}/v2/${repo}/blobs/uploads/`, {
    method: "POST",
    headers: authHeader(t),
  });
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${await start.text()}`);
  const location = new URL(start.headers.get("location")!, `http://${t.host}`);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, {
    method: "PUT",
    headers: { ...authHeader(t), "content-type": "application/octet-stream" },
    body,
  });
  if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${await put.text()}`);
  return { digest, size: body.length };
}

export async function pushManifest(
  t: RegistryTarget,
  repo: string,
  reference: string,
  manifest: object,
  mediaType: string,
): Promise<string> {
  const body = Buffer.from(JSON.stringify(manifest));
  const res = await fetch(`http://${t.host}/v2/${repo}/manifests/${reference}`, {
    method: "PUT",
    headers: { ...authHeader(t), "content-type": mediaType },
    body,
  });
  if (res.status !== 201) throw new Error(`manifest PUT: ${res.status} ${await res.text()}`);
  return digestOf(body);
}

export interface ImageSpec {
  os?: string;
  architecture?: string;
  /** Layer contents; their count is the manifest's layer count. */
  layers?: Buffer[];
  /** How many diff_ids the config lists. @default one per layer */
  diffIds?: number;
  /** Docker or OCI media types. @default "oci" */
  format?: "oci" | "docker";
  /** Extra bytes in every layer, to make a large image. */
}

/** Pushes a single-platform image; returns its manifest digest. */
export async function pushImage(
  t: RegistryTarget,
  repo: string,
  spec: ImageSpec = {},
  tag?: string,
): Promise<{ digest: string; size: number }> {
  const layers = spec.layers ?? [Buffer.from(`layer for ${repo} ${spec.architecture ?? "amd64"}`)];
  const layerDescs = [];
  for (const l of layers) {
    const { digest, size } = await pushBlob(t, repo, l);
    layerDescs.push({ digest, size });
  }
  const diffCount = spec.diffIds ?? layers.length;
  const config = {
    os: spec.os ?? "linux",
    architecture: spec.architecture ?? "amd64",
    rootfs: { type: "layers", diff_ids: layers.slice(0, diffCount).map((l) => digestOf(l)) },
    config: {},
  };
  const configBlob = await pushBlob(t, repo, Buffer.from(JSON.stringify(config)));
  const oci = (spec.format ?? "oci") === "oci";
  const manifest = {
    schemaVersion: 2,
    mediaType: oci ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest,
    config: {
      mediaType: oci
        ? "application/vnd.oci.image.config.v1+json"
        : "application/vnd.docker.container.image.v1+json",
      digest: configBlob.digest,
      size: configBlob.size,
    },
    layers: layerDescs.map((d) => ({
      mediaType: oci
        ? "application/vnd.oci.image.layer.v1.tar+gzip"
        : "application/vnd.docker.image.rootfs.diff.tar.gzip",
      ...d,
    })),
  };
  const body = Buffer.from(JSON.stringify(manifest));
  const digest = await pushManifest(t, repo, tag ?? digestOf(body), manifest, manifest.mediaType);
  return { digest, size: body.length };
}

export interface IndexEntry {
  digest: string;
  size: number;
  platform: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

/** Pushes an OCI index or a Docker manifest list over already pushed manifests; returns its digest. */
export async function pushIndex(
  t: RegistryTarget,
  repo: string,
  reference: string,
  entries: IndexEntry[],
  format: "oci" | "docker" = "oci",
): Promise<string> {
  const mediaType = format === "oci" ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.dockerList;
  const entryType = format === "oci" ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest;
  const index = {
    schemaVersion: 2,
    mediaType,
    manifests: entries.map((e) => ({ mediaType: entryType, ...e })),
  };
  return pushManifest(t, repo, reference, index, mediaType);
}

/**
 * The registry the global setup started, for a test file's `beforeAll`. Throws (the tests fail, never
 * skip) with the reason when it did not start.
 */
export function requireRegistry(info: {
  host?: string;
  username: string;
  password: string;
  error?: string;
}): RegistryTarget {
  if (!info.host) throw new Error(`the test registry did not start: ${info.error}`);
  return { host: info.host, username: info.username, password: info.password };
}

/**
 * Pushes a one-layer OCI image through the product's own client (so with whatever auth the registry
 * asks, token auth included); returns its manifest digest.
 */
export async function pushWithClient(
  client: RegistryClient,
  repo: string,
  architecture = "amd64",
): Promise<string> {
  const layer = Buffer.from(`layer of ${repo} for ${architecture}`);
  const config = Buffer.from(
    JSON.stringify({ os: "linux", architecture, rootfs: { type: "layers", diff_ids: [digestOf(layer)] } }),
  );
  await client.uploadBlob(repo, digestOf(layer), layer);
  await client.uploadBlob(repo, digestOf(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: digestOf(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
          digest: digestOf(layer),
          size: layer.length,
        },
      ],
    }),
  );
  await client.putManifest(repo, digestOf(manifest), manifest, MEDIA_TYPES.ociManifest);
  return digestOf(manifest);
}
