/**
 * promote-image: copies a verified image by digest from the registry that built it into the registry
 * of the stack that deploys it. The digest does not change. Verification (verify-image) runs next.
 *
 *   npm run promote-image -- <source-registry>/<repo>@sha256:<digest> <destination-registry>/<repo> [--json]
 *
 * Credentials come from the environment, never the command line: SOURCE_REGISTRY_LOGIN (or
 * SOURCE_REGISTRY_USERNAME / SOURCE_REGISTRY_PASSWORD) for the source, REGISTRY_LOGIN (or
 * REGISTRY_USERNAME / REGISTRY_PASSWORD) for the destination; see lib/registry/login.ts.
 * Blobs the destination repository lacks are mounted from another repository of the destination
 * registry when the blob-location cache (~/.cache/multicloud-deploy/blob-locations.json, as skopeo's
 * blob-info cache) saw them there; `--no-blob-cache` turns that off.
 * Exit 0: copied (or already there); exit 1: not copied (the problem is printed); exit 2: usage.
 */
import { Command } from "commander";
import { BlobLocationCache } from "../lib/registry/blob-cache";
import { copyImage } from "../lib/registry/copy";
import { parseOrExit, registryAccess, run } from "./cli";

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("promote-image")
    .description("Copy an image by digest between registries, unchanged (promotion from staging to prod).")
    .argument("<source>", "registry/repository@sha256:<digest> to copy")
    .argument("<destination>", "registry/repository to copy into")
    .option("--json", "print the result as JSON")
    .option("--no-blob-cache", "do not read or record where blobs were seen (lib/registry/blob-cache.ts)");
  const stop = parseOrExit(program, argv);
  if (stop !== undefined) return stop;
  const [source, destination] = program.args;
  const from = await registryAccess(process.env, "SOURCE_");
  const to = await registryAccess(process.env);
  const result = await copyImage({
    source: source!,
    destination: destination!,
    sourceCredentials: from.credentials,
    destinationCredentials: to.credentials,
    plainHttp: to.plainHttp,
    blobCache: program.opts<{ blobCache: boolean }>().blobCache ? new BlobLocationCache() : undefined,
  });
  if (program.opts<{ json?: boolean }>().json) {
    console.log(JSON.stringify(result));
  } else {
    const b = result.blobs;
    console.log(
      `promoted ${result.ref}: ${b.total} blobs (${b.present} present, ${b.mounted} mounted, ${b.uploaded} uploaded, ${b.uploadedBytes} bytes)`,
    );
  }
  return 0;
}

run("promote-image", () => main(process.argv));
