/**
 * verify-image: reads an image back from its registry and checks it is safe to deploy.
 *
 *   npm run verify-image -- <registry>/<repo>@sha256:<digest> --platform linux/arm64 [--tag <tag>] [--json]
 *
 * Credentials never come from the command line: REGISTRY_LOGIN describes where to get them at run
 * time (lib/registry/login.ts), or REGISTRY_USERNAME / REGISTRY_PASSWORD give them. Exit 0: verified;
 * exit 1: the image must not be deployed (the problems are printed); exit 2: usage.
 */
import { Command, InvalidArgumentError } from "commander";
import { isPlatform, PLATFORMS, type Platform } from "../lib/platform";
import { verifyImage } from "../lib/registry/verify";
import { parseOrExit, registryAccess, run } from "./cli";

function parsePlatform(value: string): Platform {
  if (!isPlatform(value)) throw new InvalidArgumentError(`expected one of ${PLATFORMS.join(", ")}`);
  return value;
}

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("verify-image")
    .description(
      "Verify a pushed image by reading its manifest and config from the registry (no layers are pulled).",
    )
    .argument("<ref>", "image reference pinned by digest: registry/repository@sha256:<digest>")
    .requiredOption("--platform <platform>", "the platform the image must be built for", parsePlatform)
    .option("--tag <tag>", "after verifying, point this (immutable) tag at the digest unless it already does")
    .option("--json", "print the result as JSON");
  const stop = parseOrExit(program, argv);
  if (stop !== undefined) return stop;
  const [ref] = program.args;
  const opts = program.opts<{ platform: Platform; tag?: string; json?: boolean }>();
  const result = await verifyImage({
    ref,
    platform: opts.platform,
    ensureTag: opts.tag,
    ...(await registryAccess(process.env)),
  });
  if (opts.json) {
    console.log(JSON.stringify(result));
  } else {
    console.log(
      `verified ${result.ref}: ${result.mediaType}, ${result.layers} layers, ${result.platform}` +
        (result.tag ? `; tag ${result.tag.name} ${result.tag.state}` : "") +
        ` (${result.stats.requests} requests, ${result.stats.bytes} bytes)`,
    );
  }
  return 0;
}

run("verify-image", () => main(process.argv));
