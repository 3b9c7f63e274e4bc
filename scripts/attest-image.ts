/**
 * attest-image: writes the Binary Authorization attestation of a promoted Artifact Registry image,
 * after its gates passed, so that Cloud Run admits it (lib/binauthz/attest.ts, docs/signing.md).
 *
 *   npm run attest-image -- <host>/<project>/<repo>/<image>@sha256:<hex> \
 *     --attestor projects/<p>/attestors/<a> --signed-for <commit> --signed-by <stack>
 *
 * It signs nothing. The image's `.sig` (copied from staging by promote-image) must hold staging's
 * signature, by the public key in SIGNATURE_PUBLIC_KEY, for that commit by that stack, and the Binary
 * Authorization payload staging signed beside it; the attestation carries that payload and signature.
 * Registry credentials come from the environment (REGISTRY_LOGIN, lib/registry/login.ts); the APIs
 * take the deployer's Application Default Credentials.
 * Exit 0: created or kept (stdout: `{"outcome","occurrence","ms"}`); exit 1: refused (the message
 * names the image and the check); exit 2: usage.
 */
import { Command } from "commander";
import { attestImage, policyWarning } from "../lib/binauthz/attest";
import { binauthzSignatureIn, pkixKeyId } from "../lib/binauthz/payload";
import { decodeAttestArgs } from "../lib/binauthz/step";
import { UserError } from "../lib/errors";
import { parseImageRef } from "../lib/image-ref";
import type { HttpClient } from "../lib/release/cloud-run";
import { RegistryClient } from "../lib/registry/client";
import { SIGNATURE_KEY_VAR } from "../lib/signing/step";
import { verifySignature } from "../lib/signing/verify";
import { parseOrExit, registryAccess, run } from "./cli";

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("attest-image")
    .description(
      "Attest a promoted Artifact Registry image for Binary Authorization, with staging's signature.",
    )
    .argument("<ref>", "host/project/repository/image@sha256:<digest>")
    .requiredOption("--attestor <name>", "projects/<project>/attestors/<name>")
    .requiredOption("--signed-for <commit>", "the commit staging's signature must claim")
    .requiredOption("--signed-by <stack>", "the stack that must have signed");
  const stop = parseOrExit(program, argv);
  if (stop !== undefined) return stop;
  const step = decodeAttestArgs(argv.slice(2));
  if ("problem" in step) throw new UserError(`attest-image: ${step.problem}`, []);
  const publicKeyPem = process.env[SIGNATURE_KEY_VAR];
  if (!publicKeyPem)
    throw new UserError(`attest-image: ${SIGNATURE_KEY_VAR} is unset`, [
      "set it to the signing stack's public key (PEM); the program sets it from multicloud-deploy:signatureKeys.gcp",
    ]);
  const refused = (check: string, problem: string) =>
    new UserError(`${step.ref}: not attested, the "${check}" check failed (nothing was written)`, [problem]);

  const started = performance.now();
  const image = parseImageRef(step.ref);
  const client = new RegistryClient(image.registry, await registryAccess(process.env));
  // The `.sig` promote-image copied: staging's, for this commit. Its docker-reference names staging's
  // repository, where it was signed, so it is not checked here (promote-image checked it at the source).
  const sig = await verifySignature({
    client,
    repository: image.repository,
    digest: image.digest!,
    publicKeyPem,
    commit: step.commit,
    stack: step.stack,
  });
  if (!sig.ok) throw refused(sig.check, sig.problem);
  const signed = binauthzSignatureIn(sig.signatureManifest.toString("utf8"), image.digest!, publicKeyPem);
  if ("problem" in signed) throw refused("binauthz-payload", signed.problem);

  const { GoogleAuth } = await import("google-auth-library");
  const http = (await new GoogleAuth({
    scopes: ["https://www.googleapis.com/auth/cloud-platform"],
  }).getClient()) as unknown as HttpClient;
  const result = await attestImage({
    http,
    attestor: step.attestor,
    // The attestor's project: Binary Authorization reads attestations through its note, wherever the
    // image is, and the deployer's grants are there (docs/iam.md).
    project: step.attestor.split("/")[1]!,
    image: step.ref,
    signed,
    publicKeyId: pkixKeyId(publicKeyPem),
  });
  if (result.outcome === "refused") throw refused(result.check, result.problem);
  console.error(`${result.outcome}: ${result.occurrence} attests ${step.ref} for ${step.attestor}`);
  const warning = policyWarning(result.policy, step.attestor);
  if (warning) console.error(`warning: ${warning}`);
  console.log(
    JSON.stringify({
      outcome: result.outcome,
      occurrence: result.occurrence,
      policy: result.policy,
      ms: Math.round(performance.now() - started),
    }),
  );
  return 0;
}

run("attest-image", () => main(process.argv));
