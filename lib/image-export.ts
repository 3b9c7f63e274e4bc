/**
 * How an image leaves BuildKit: the one `--output` entry every build uses, and the reading of an
 * `--output` entry back into its attributes (the mocks and the policy pack's parity test use it).
 *
 * - `push-by-digest=true` with an untagged `name`: BuildKit refuses a tagged name with push-by-digest
 *   ("can't push tagged ref … by digest", moby/buildkit util/push/push.go), and buildx overwrites an
 *   image exporter's `name` with the build's tags ("fill in image exporter names from tags",
 *   docker/buildx build/opt.go). So a build that pushes by digest has no tags at all: the commit tag
 *   is added after verification (verify-image --tag).
 * - `rewrite-timestamp=true`: with the `SOURCE_DATE_EPOCH` build arg, BuildKit rewrites the file
 *   timestamps inside new layers to that epoch (moby/buildkit docs/build-repro.md, BuildKit ≥ 0.13), so
 *   two builds of unchanged inputs give one digest, and a retried deploy finds its tag pointing at
 *   the digest it just built.
 * - `oci-mediatypes=true`: one OCI manifest (Lambda and Cloud Run accept both; OCI is BuildKit's own).
 *
 * `@pulumi/docker-build`'s typed `registry` export has no `rewrite-timestamp` field, so the entry is
 * given as `raw`, which the provider parses like the Docker CLI's `--output` (provider/internal/export.go).
 */
import { parseImageRef } from "./image-ref";

const REGISTRY_EXPORT_ATTRS = {
  "push-by-digest": "true",
  "rewrite-timestamp": "true",
  "oci-mediatypes": "true",
} as const;

/** The `--output` entry for pushing `repositoryUrl` by digest, reproducibly. */
export function registryExport(repositoryUrl: string): string {
  const ref = parseImageRef(repositoryUrl);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new Error(
      `expected an untagged repository like host/path/name, got ${JSON.stringify(repositoryUrl)}: ` +
        "BuildKit cannot push a tagged or digested name by digest",
    );
  }
  const attrs = Object.entries(REGISTRY_EXPORT_ATTRS).map(([k, v]) => `${k}=${v}`);
  return ["type=registry", `name=${repositoryUrl}`, ...attrs].join(",");
}

export interface ExportEntry {
  type: string;
  attrs: Record<string, string>;
}

/**
 * Parses one `--output` entry (`type=registry,name=a,push=true`) as buildx does: comma-separated
 * `key=value` fields, keys lower-cased, `type=registry` meaning the image exporter with `push=true`
 * unless said otherwise (docker-build provider/internal/export.go `parseExports`). Quoted fields keep
 * their commas (CSV), so `"name=a,b"` names two images.
 */
export function parseExportEntry(raw: string): ExportEntry {
  const fields = splitCsv(raw);
  const attrs: Record<string, string> = {};
  let type = "";
  for (const field of fields) {
    const eq = field.indexOf("=");
    if (eq < 0) throw new Error(`invalid export field ${JSON.stringify(field)} in ${JSON.stringify(raw)}`);
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1);
    if (key === "type") type = value;
    else attrs[key] = value;
  }
  if (type === "") throw new Error(`export ${JSON.stringify(raw)} has no type=`);
  if (type === "registry") {
    type = "image";
    attrs.push ??= "true";
  }
  return { type, attrs };
}

/** A docker-build `exports` entry as the engine records it (plain values, the SDK's field names). */
export interface ExportInput {
  disabled?: boolean;
  raw?: string;
  registry?: { names?: string[]; push?: boolean; pushByDigest?: boolean };
  image?: { names?: string[]; push?: boolean; pushByDigest?: boolean };
}

/**
 * A docker-build image's `exports` as BuildKit receives them: typed `registry`/`image` entries and
 * `raw` strings alike (disabled entries dropped).
 */
export function imageExportEntries(props: { exports?: unknown }): ExportEntry[] {
  return ((props.exports ?? []) as ExportInput[]).flatMap((e): ExportEntry[] => {
    if (e.disabled === true) return [];
    if (typeof e.raw === "string" && e.raw !== "") return [parseExportEntry(e.raw)];
    for (const kind of ["registry", "image"] as const) {
      const x = e[kind];
      if (!x) continue;
      const attrs: Record<string, string> = {
        name: (x.names ?? []).join(","),
        push: String(x.push ?? kind === "registry"),
      };
      if (x.pushByDigest !== undefined) attrs["push-by-digest"] = String(x.pushByDigest);
      return [{ type: "image", attrs }];
    }
    return [];
  });
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') {
      if (quoted && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (c === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out.filter((f) => f !== "");
}
