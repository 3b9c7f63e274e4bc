/**
 * One promotion copy in a process of its own, for the benchmark's memory figure: copies SOURCE into
 * DESTINATION (mount off, so every byte goes through this process) and prints the process's peak
 * resident set size. Run by bench/run.ts; credentials come from REGISTRY_USERNAME/REGISTRY_PASSWORD.
 * RECLAIM_EVERY_BYTES sets CopyOptions.reclaimEveryBytes (0: no collections), to show what they save.
 *
 *   tsx bench/promote-memory.ts <registry/repo@sha256:…> <registry/repo>
 */
import { copyImage } from "../lib/registry/copy";

async function main(): Promise<void> {
  const [source, destination] = process.argv.slice(2);
  if (!source || !destination) throw new Error("usage: promote-memory <source@digest> <destination>");
  const credentials = { username: process.env.REGISTRY_USERNAME!, password: process.env.REGISTRY_PASSWORD! };
  const start = performance.now();
  const result = await copyImage({
    source,
    destination,
    sourceCredentials: credentials,
    destinationCredentials: credentials,
    mount: false,
    ...(process.env.RECLAIM_EVERY_BYTES
      ? { reclaimEveryBytes: Number(process.env.RECLAIM_EVERY_BYTES) }
      : {}),
  });
  // maxRSS is in KiB (process.resourceUsage, getrusage ru_maxrss).
  console.log(
    JSON.stringify({
      peakRssMiB: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
      ms: Math.round(performance.now() - start),
      uploadedBytes: result.blobs.uploadedBytes,
    }),
  );
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
