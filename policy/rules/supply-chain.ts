/**
 * Policy rule: a service's image passed a scan gate and carries this pipeline's signature: it was
 * signed here after verification (staging), or promoted with the source stack's signature checked at
 * both ends (prod). Read through property dependencies, which are known in every preview: the image
 * reference depends on the scan-gate Command, and comes through a sign-image Command or a
 * promote-image Command run with `--signed-for` (lib/verify-step.ts), directly or upstream. Disabled by
 * default; advisory in staging's pack config and mandatory in prod's (docs/signing.md, docs/scanning.md).
 */
import {
  TYPES,
  eachResource,
  isAttestStep,
  isCloudRun,
  isPromoteStep,
  isScanStep,
  isSignStep,
  read,
  stackPolicy,
  what,
} from "../core";

type PolicyResource = Parameters<typeof isPromoteStep>[0];

/** A promote step that requires the source's signature (`--signed-for <commit>`). */
function checksSignature(r: PolicyResource): boolean {
  if (!isPromoteStep(r)) return false;
  const create = read(() => r.props.create as string | undefined);
  return create.known && typeof create.value === "string" && /\s--signed-for[\s=]\S/.test(create.value);
}

/** `deps` and every resource they depend on, each once: the chain an image reference came through. */
function upstream(deps: readonly PolicyResource[]): PolicyResource[] {
  const seen = new Map<string, PolicyResource>();
  const walk = (rs: readonly PolicyResource[]) => {
    for (const r of rs) {
      if (seen.has(r.urn)) continue;
      seen.set(r.urn, r);
      walk(r.dependencies);
    }
  };
  walk(deps);
  return [...seen.values()];
}

export const imageSignedAndScanned = stackPolicy(
  "image-signed-and-scanned",
  "A service's image passed the registry's scan gate and carries the pipeline's signature: signed after verification, or promoted with the source stack's signature checked.",
  (args, report) => {
    eachResource(
      args.resources,
      (x) => isCloudRun(x.type) || x.type === TYPES.lambda || x.type === TYPES.nativeLambda,
      (r) => {
        if ((r.type === TYPES.lambda || r.type === TYPES.nativeLambda) && r.props.packageType !== "Image")
          return;
        const property = isCloudRun(r.type)
          ? "template"
          : r.type === TYPES.nativeLambda
            ? "code"
            : "imageUri";
        const deps = r.propertyDependencies[property] ?? [];
        if (!deps.some(isScanStep)) {
          report(
            `${what(r.type, r.name)}: its image passes no scan gate; deploy ContainerImage.imageRef with scanGate set (the program always sets it: multicloud-deploy:scanGate, docs/scanning.md)`,
            r.urn,
          );
        }
        // A service that has Cloud Run enforce Binary Authorization admits only attested images: its
        // image must wait for this stack's attest step (docs/signing.md).
        const enforces = read(
          () => (r.props.binaryAuthorization as { useDefault?: boolean } | undefined)?.useDefault,
        );
        if (isCloudRun(r.type) && enforces.known && enforces.value === true && !deps.some(isAttestStep)) {
          report(
            `${what(r.type, r.name)}: enforces Binary Authorization, but its image waits for no attest step, so Cloud Run would refuse it or run one nothing attested; deploy ContainerImage.imageRef with attestation set (multicloud-deploy:binaryAuthorization does it)`,
            r.urn,
          );
        }
        const signed = upstream(deps).some((d) => isSignStep(d) || checksSignature(d));
        if (!signed) {
          report(
            `${what(r.type, r.name)}: its image is neither signed by this stack nor promoted with its signature checked; set multicloud-deploy:signing in the stack that builds, and signatureKeys in the stack that promotes (docs/signing.md)`,
            r.urn,
          );
        }
      },
    );
  },
  // Off unless a stack's pack config turns it on: a stack's pipeline, not every program, signs and scans.
  { enforcementLevel: "disabled" },
);
