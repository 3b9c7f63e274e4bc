/**
 * The deployment targets a service can name in `target`, in the order their problems are reported.
 * A new target is one file beside these (a `ServiceTarget` sealed with `defineTarget`), its entry
 * here, and its config type in {@link ServiceConfig}.
 */
import { cloudRunTarget, type CloudRunServiceConfig } from "./cloud-run";
import type { TargetRules } from "./common";
import { lambdaTarget, type LambdaServiceConfig } from "./lambda";

export type { CloudRunServiceConfig } from "./cloud-run";
export type { LambdaServiceConfig } from "./lambda";

/** A parsed service, of whichever target. */
export type ServiceConfig = CloudRunServiceConfig | LambdaServiceConfig;

/** Every target's rules, by the value of `target` that selects them. */
export const SERVICE_TARGETS: readonly TargetRules<ServiceConfig>[] = [cloudRunTarget, lambdaTarget];
