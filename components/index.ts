export * from "./artifact-registry-repository";
export * from "./binary-authorization-attestor";
export * from "./cloud-run-service";
export * from "./container-image";
export * from "./ecr-repository";
export * from "./lambda-function";
