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
 * With `--signed-for <commit> --signed-by <stack>`, the source stack's signature (cosign's format) of that digest, by the
 * public key in SIGNATURE_PUBLIC_KEY, for that commit, by that stack, as that repository's image, is checked at the source before anything is
 * copied, copied with the image, and checked again at the destination (lib/signing/promote.ts).
 * Exit 0: copied (or already there); exit 1: not copied (the problem is printed); exit 2: usage.
 */
import { Command } from "commander";
import { BlobLocationCache } from "../lib/registry/blob-cache";
import { UserError } from "../lib/errors";
import { parseImageRef } from "../lib/image-ref";
import { RegistryClient } from "../lib/registry/client";
import { copyImage } from "../lib/registry/copy";
import { checkSourceSignature, copySignature, type SignedCopyOptions } from "../lib/signing/promote";
import { SIGNATURE_KEY_VAR } from "../lib/signing/step";
import { parseOrExit, registryAccess, run } from "./cli";

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("promote-image")
    .description("Copy an image by digest between registries, unchanged (promotion from staging to prod).")
    .argument("<source>", "registry/repository@sha256:<digest> to copy")
    .argument("<destination>", "registry/repository to copy into")
    .option("--json", "print the result as JSON")
    .option("--no-blob-cache", "do not read or record where blobs were seen (lib/registry/blob-cache.ts)")
    .option(
      "--signed-for <commit>",
      `require the source's signature for this commit, by the public key (PEM) in ${SIGNATURE_KEY_VAR}; copy it too`,
    )
    .option("--signed-by <stack>", "with --signed-for: the stack that must have signed it (its stack claim)");
  const stop = parseOrExit(program, argv);
  if (stop !== undefined) return stop;
  const [source, destination] = program.args;
  const from = await registryAccess(process.env, "SOURCE_");
  const to = await registryAccess(process.env);
  const { signedFor, signedBy } = program.opts<{ signedFor?: string; signedBy?: string }>();
  if (signedFor !== undefined && signedBy === undefined)
    throw new UserError("promote-image: --signed-for needs --signed-by <stack>, the stack that signs", []);
  const signed =
    signedFor === undefined ? undefined : signedCopy(source!, destination!, signedFor, signedBy!, from, to);
  // The signature first: an image it does not cover is never copied.
  const signature = signed && (await checkSourceSignature(signed));
  const result = await copyImage({
    source: source!,
    destination: destination!,
    sourceCredentials: from.credentials,
    destinationCredentials: to.credentials,
    plainHttp: to.plainHttp,
    blobCache: program.opts<{ blobCache: boolean }>().blobCache ? new BlobLocationCache() : undefined,
  });
  if (signed && signature) await copySignature(signed, signature);
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

/** Both ends of a signed copy, with the public key from the environment. */
function signedCopy(
  source: string,
  destination: string,
  commit: string,
  stack: string,
  from: Awaited<ReturnType<typeof registryAccess>>,
  to: Awaited<ReturnType<typeof registryAccess>>,
): SignedCopyOptions {
  const publicKeyPem = process.env[SIGNATURE_KEY_VAR];
  if (!publicKeyPem) {
    throw new UserError(`promote-image: --signed-for needs the source stack's public key`, [
      `set ${SIGNATURE_KEY_VAR} to it (PEM); the program sets it from multicloud-deploy:signatureKeys`,
    ]);
  }
  const src = parseImageRef(source);
  const dst = parseImageRef(destination);
  return {
    from: {
      client: new RegistryClient(src.registry, from),
      host: src.registry,
      repository: src.repository,
      credentials: from.credentials,
    },
    to: {
      client: new RegistryClient(dst.registry, to),
      host: dst.registry,
      repository: dst.repository,
      credentials: to.credentials,
      plainHttp: to.plainHttp,
    },
    digest: src.digest!,
    publicKeyPem,
    commit,
    stack,
    // A promotion's signature names the source repository, where it was signed. A copy within one
    // repository is a rollback: its signature, copied here by an earlier promotion, names the source
    // stack's repository, which this command does not know, so the key, digest, commit and stack bind it.
    ...(src.registry === dst.registry && src.repository === dst.repository
      ? {}
      : { reference: `${src.registry}/${src.repository}` }),
  };
}

run("promote-image", () => main(process.argv));
