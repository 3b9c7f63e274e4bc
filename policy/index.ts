/**
 * The policy pack's entry point: `pulumi preview --policy-pack policy`, `pulumi policy publish`.
 * `new PolicyPack` starts the analyzer's gRPC server, so nothing imports this file: tests and the
 * offline plan import ./rules.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_ENFORCEMENT, PACK_NAME, policies } from "./rules";

new PolicyPack(PACK_NAME, {
  description:
    "No source-based deploys; one platform per image, no attestations; commit-SHA tags; digest-pinned, verified images; immutable registries; no plaintext secrets; dedicated identities.",
  enforcementLevel: PACK_ENFORCEMENT,
  policies,
});
