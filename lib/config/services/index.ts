/**
 * The deployment targets a service can name in `target`, in the order their problems are reported.
 * A new target is one file beside these, implementing {@link ServiceTarget}, and one entry here.
 */
import { cloudRunTarget, type CloudRunServiceConfig } from "./cloud-run";
import type { ServiceTarget } from "./common";
import { lambdaTarget, type LambdaServiceConfig } from "./lambda";

export type { CloudRunServiceConfig } from "./cloud-run";
export type { LambdaServiceConfig } from "./lambda";

/** A parsed service, of whichever target. */
export type ServiceConfig = CloudRunServiceConfig | LambdaServiceConfig;

/** Every target's rules, by the value of `target` that selects them. */
export const SERVICE_TARGETS: readonly ServiceTarget<ServiceConfig>[] = [cloudRunTarget, lambdaTarget];
