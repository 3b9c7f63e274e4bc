/** The blob-location cache: what one copy records, the next one reads, concurrent writers merged. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { BlobLocationCache, defaultBlobCacheFile } from "../../../lib/registry/blob-cache";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;

describe("BlobLocationCache", () => {
  it("gives the repositories of one host that hold a digest, the most recent first", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "blobs-")), "c.json");
    const c = new BlobLocationCache(file);
    c.record("r.example:443", "prod/api", D1);
    c.record("other.example", "x/y", D1);
    c.record("r.example:443", "prod/web", D1);
    expect(c.candidates("r.example:443", D1)).toEqual(["prod/web", "prod/api"]);
    expect(c.candidates("r.example:443", D2)).toEqual([]);
  });

  it("merges what two copies saved at once, and keeps only the newest locations and digests", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "blobs-")), "c.json");
    const a = new BlobLocationCache(file, 1, 2);
    const b = new BlobLocationCache(file, 2, 2);
    a.record("h", "one", D1);
    b.record("h", "two", D2);
    a.save();
    b.save();
    expect(new BlobLocationCache(file).candidates("h", D1)).toEqual(["one"]);
    expect(new BlobLocationCache(file).candidates("h", D2)).toEqual(["two"]);
    const c = new BlobLocationCache(file, 10, 2);
    for (const r of ["r1", "r2", "r3"]) c.record("h", r, D1);
    c.save();
    expect(new BlobLocationCache(file).candidates("h", D1)).toEqual(["r3", "r2"]);
  });

  it("starts empty on a missing or corrupt file, and lives in the user's cache directory", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "blobs-")), "c.json");
    fs.writeFileSync(file, "{not json");
    expect(new BlobLocationCache(file).candidates("h", D1)).toEqual([]);
    expect(defaultBlobCacheFile({ XDG_CACHE_HOME: "/c" })).toBe("/c/multicloud-deploy/blob-locations.json");
    expect(defaultBlobCacheFile({ HOME: "/home/u" })).toBe(
      "/home/u/.cache/multicloud-deploy/blob-locations.json",
    );
  });
});
