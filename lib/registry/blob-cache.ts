/**
 * Where blobs were last seen, by digest: the `host/repository` locations a copy may mount from
 * instead of transferring the bytes again. skopeo does the same with its blob-info cache
 * (containers/image `pkg/blobinfocache`: `RecordKnownLocation` after each blob, then
 * `docker/docker_image_dest.go` `TryReusingBlobWithOptions` asks for candidate locations on the
 * destination host and tries a cross-repository mount from each): that is why its second copy of an
 * image into another repository of the same registry transfers nothing.
 *
 * A JSON file in the user's cache directory. A stale entry costs one declined mount (the registry
 * answers 202 or 4xx and the blob is copied); a lost one costs a transfer. Writes merge with what is
 * on disk and replace the file atomically, so concurrent copies (one per service) do not clobber
 * each other's entries beyond losing a race.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** `$XDG_CACHE_HOME/multicloud-deploy/blob-locations.json` (default `~/.cache`). */
export function defaultBlobCacheFile(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), ".cache");
  return path.join(base, "multicloud-deploy", "blob-locations.json");
}

type Locations = Record<string, string[]>;

export class BlobLocationCache {
  private readonly known: Locations;
  private readonly added: Array<[string, string]> = [];

  /**
   * @param file Where the cache lives. @default defaultBlobCacheFile()
   * @param maxDigests Entries kept, the most recently recorded. @default 5000
   * @param maxLocations Locations kept per digest, the most recent first. @default 5
   */
  constructor(
    readonly file = defaultBlobCacheFile(),
    private readonly maxDigests = 5000,
    private readonly maxLocations = 5,
  ) {
    this.known = read(file);
  }

  /** Repositories on `host` known to hold `digest`, the most recently seen first. */
  candidates(host: string, digest: string): string[] {
    const prefix = `${host}/`;
    return (this.known[digest] ?? []).filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
  }

  /** `host/repository` holds `digest` now. */
  record(host: string, repository: string, digest: string): void {
    const location = `${host}/${repository}`;
    this.known[digest] = [location, ...(this.known[digest] ?? []).filter((l) => l !== location)].slice(
      0,
      this.maxLocations,
    );
    this.added.push([digest, location]);
  }

  /** Writes what this copy recorded over what the file holds now. */
  save(): void {
    if (this.added.length === 0) return;
    const merged = read(this.file);
    for (const [digest, location] of this.added) {
      merged[digest] = [location, ...(merged[digest] ?? []).filter((l) => l !== location)].slice(
        0,
        this.maxLocations,
      );
      // Insertion order is recency: move it to the end.
      const value = merged[digest];
      delete merged[digest];
      merged[digest] = value;
    }
    const entries = Object.entries(merged);
    const kept = Object.fromEntries(entries.slice(Math.max(0, entries.length - this.maxDigests)));
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(kept));
    fs.renameSync(tmp, this.file);
  }
}

function read(file: string): Locations {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Locations) : {};
  } catch {
    // Missing or unreadable: start empty (a cache, never a source of truth).
    return {};
  }
}
