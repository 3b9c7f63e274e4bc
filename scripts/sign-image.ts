/**
 * sign-image: signs a verified image's digest with a cloud KMS key, in cosign's legacy format, in the
 * image's own repository (lib/signing/simple-signing.ts), so `cosign verify --key` and the product's
 * own checks accept it.
 *
 *   npm run sign-image -- <repo>@sha256:<hex> --key gcpkms://projects/…/cryptoKeyVersions/1 --commit <sha> --stack staging
 *   npm run sign-image -- <repo>@sha256:<hex> --key awskms:///alias/signing --aws-region us-east-1 --commit <sha> --stack staging
 *
 * Idempotent under immutable tags: a valid signature by this key for this commit is kept, never made
 * again (ECDSA signatures differ on every run, and the `.sig` tag can be written once: cosign's answer
 * is "verify, else sign", sigstore/cosign#313). A `.sig` that is not this key's for this commit cannot
 * be replaced and stops the step, saying which check it failed. Registry credentials come from the
 * environment (REGISTRY_LOGIN, lib/registry/login.ts); the KMS from the deployer's ambient identity.
 * Exit 0: signed or kept (stdout: `{"outcome","tag","ms"}`, kept in the Command's outputs); exit 1: not
 * signed (the problem is printed); exit 2: usage.
 */
import { Command } from "commander";
import { UserError } from "../lib/errors";
import { parseImageRef } from "../lib/image-ref";
import { RegistryClient } from "../lib/registry/client";
import { ambientSigner } from "../lib/signing/kms";
import { signImage } from "../lib/signing/sign";
import { decodeSignArgs, keyUri } from "../lib/signing/step";
import { parseOrExit, registryAccess, run } from "./cli";

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("sign-image")
    .description(
      "Sign a verified image's digest with a KMS key, in cosign's format, unless this key signed it already.",
    )
    .argument("<ref>", "registry/repository@sha256:<digest>")
    .requiredOption(
      "--key <uri>",
      "gcpkms://projects/…/cryptoKeyVersions/<n> or awskms:///<key id | ARN | alias/NAME>",
    )
    .option("--aws-region <region>", "the AWS KMS key's region, unless --key is an ARN")
    .requiredOption("--commit <sha>", "the commit the image was built at (the signature's commit claim)")
    .requiredOption("--stack <stack>", "the stack that signs (the signature's stack claim)");
  const stop = parseOrExit(program, argv);
  if (stop !== undefined) return stop;
  const step = decodeSignArgs(argv.slice(2));
  if ("problem" in step) throw new UserError(`sign-image: ${step.problem}`, []);

  const image = parseImageRef(step.ref);
  const reference = `${image.registry}/${image.repository}`;
  const client = new RegistryClient(image.registry, await registryAccess(process.env));
  const started = performance.now();
  const result = await signImage({
    client,
    repository: image.repository,
    reference,
    digest: image.digest!,
    // Artifact Registry images feed Cloud Run, which enforces Binary Authorization (docs/signing.md).
    binauthz: step.key.cloud === "gcp",
    signer: await ambientSigner(step.key),
    claims: { commit: step.commit, stack: step.stack },
  });
  console.error(
    result.outcome === "kept"
      ? `kept: ${reference}:${result.tag} already holds a valid signature by ${keyUri(step.key)} for ${step.commit}`
      : `signed ${step.ref} with ${keyUri(step.key)} (${reference}:${result.tag})`,
  );
  // stdout is the Command's output: what was done, and how long the KMS and registry work took.
  console.log(
    JSON.stringify({ outcome: result.outcome, tag: result.tag, ms: Math.round(performance.now() - started) }),
  );
  return 0;
}

run("sign-image", () => main(process.argv));
