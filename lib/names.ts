/**
 * Physical names derived from service names. Child resource names (the Pulumi names) are a public
 * contract too: changing one replaces a real resource.
 */
import { createHash } from "node:crypto";
import stringify from "safe-stable-stringify";

/**
 * A GCP service account id (6-30 chars, `[a-z][-a-z0-9]*[a-z0-9]`) for a service's runtime identity:
 * `<service>-run`, or a truncated name plus a hash when that is too long, so ids stay unique.
 */
export function runtimeServiceAccountId(service: string): string {
  const id = `${service}-run`;
  if (id.length <= 30) return id.length >= 6 ? id : `${id}-sa`;
  const hash = createHash("sha256").update(service).digest("hex").slice(0, 6);
  return `${service.slice(0, 30 - 1 - 6 - 4).replace(/-+$/, "")}-${hash}-run`;
}

/** A Secret Manager secret as a binding names it: its project (unset: the service's) and its id. */
export interface SecretManagerSecret {
  project?: string;
  secretId: string;
}

/** `api-key` → `{ secretId: "api-key" }`; `projects/p/secrets/api-key` → `{ project: "p", secretId: "api-key" }`. */
export function secretManagerSecret(ref: string): SecretManagerSecret {
  const m = /^projects\/([^/]+)\/secrets\/([^/]+)$/.exec(ref);
  return m ? { project: m[1]!, secretId: m[2]! } : { secretId: ref };
}

/**
 * The one accessor grant of a service's runtime account on a secret, named by that binding (the
 * secret; the role and member are the service's): `<service>-secret-<id>`, or
 * `<service>-secret-<project>/<id>` for a secret in another project. Two env vars that read one
 * secret share it, and a full name in the service's own project is the same grant as the bare id.
 * Secret ids are case-sensitive, and so is the name.
 */
export function cloudRunSecretGrantName(service: string, ref: string, serviceProject?: string): string {
  const s = secretManagerSecret(ref);
  const elsewhere = s.project !== undefined && s.project !== serviceProject;
  return `${service}-secret-${elsewhere ? `${s.project}/` : ""}${s.secretId}`;
}

/**
 * Before issue 21 the grant was named after the env var (`<service>-secret-<env, lower-cased>`):
 * the name an alias points back to.
 */
export function legacyCloudRunSecretGrantName(service: string, envName: string): string {
  return `${service}-secret-${envName.toLowerCase()}`;
}

/**
 * The one slug of an IAM member in a resource name: `serviceAccount:ci@p.iam.gserviceaccount.com` →
 * `serviceaccount-ci-p-iam-gserviceaccount-com`. Lower-cased, as IAM compares emails.
 */
export function memberSlug(member: string): string {
  return member
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

/**
 * The one invoker grant of a member on a Cloud Run service, named by that binding:
 * `<service>-invoker-<member slug>` (`allUsers` included, and the health gate's account). IAM
 * compares members case-insensitively for emails, as the slug does, so `user:A@x` and `user:a@x` are
 * one grant.
 */
export function cloudRunInvokerGrantName(service: string, member: string): string {
  return `${service}-invoker-${memberSlug(member)}`;
}

/**
 * Before issue 23 a reader grant was named by its own slug of the member (case kept, `.`, `@` and
 * `:` as hyphens): `<repository>-reader-serviceAccount-deployer-…`, the name an alias points back to.
 */
export function legacyArtifactRegistryReaderKey(member: string): string {
  return member.replace(/[^A-Za-z0-9-]+/g, "-");
}

/**
 * The key of the reader grant of a project's Cloud Run service agent on another project's
 * repository: one per (repository, service project), whatever the number of services.
 */
export function cloudRunAgentReaderKey(serviceProject: string): string {
  return `cloud-run-agent-${serviceProject}`;
}

/** A Lambda service's ECR repository: `<ecr.repositoryPrefix>/<service>`, a fixed name. */
export function ecrRepositoryName(prefix: string, service: string): string {
  return `${prefix}/${service}`;
}

/** Artifact Registry host for a region: `us-central1-docker.pkg.dev`. */
export function artifactRegistryHost(location: string): string {
  return `${location}-docker.pkg.dev`;
}

/** Cloud Run's service agent, which pulls images: needed for reader grants on other projects' repositories. */
export function cloudRunServiceAgent(projectNumber: string): string {
  return `serviceAccount:service-${projectNumber}@serverless-robot-prod.iam.gserviceaccount.com`;
}

/** CloudWatch log group Lambda writes to by default, created explicitly so retention is ours. */
export function lambdaLogGroupName(functionName: string): string {
  return `/aws/lambda/${functionName}`;
}

/** Lambda function names: 1-64 of `[A-Za-z0-9_-]` (Lambda API, CreateFunction FunctionName). */
export const LAMBDA_FUNCTION_NAME_MAX = 64;
/** IAM role names: 1-64 of `[\w+=,.@-]` (IAM API, CreateRole RoleName). */
export const IAM_ROLE_NAME_MAX = 64;

/** A function's physical name: `<project>-<stack>-<service>` unless the stack file overrides it. */
export function lambdaFunctionName(project: string, stack: string, service: string): string {
  return `${project}-${stack}-${service}`;
}

/** The execution role of a function: `<function name>-role`. */
export function lambdaRoleName(functionName: string): string {
  return `${functionName}-role`;
}

/**
 * Cloud Run service names are at most 49 characters (Admin API v2 `CreateServiceRequest.service_id`:
 * "must contain fewer than 50 characters"), and a traffic tag plus the service name at most 46 (they
 * form one DNS label of the tag URL; gcloud: "Combined traffic tag and service name cannot exceed
 * 46 characters"). The release tag (lib/release/traffic.ts `CANDIDATE_TAG`, 4 characters) leaves 42.
 */
export const CLOUD_RUN_SERVICE_NAME_MAX = 42;

/** Cloud Run revision names: `^[a-z][a-z0-9-]*[a-z0-9]$`, under 64 characters, `<service>-` first. */
export const CLOUD_RUN_REVISION_NAME_MAX = 63;

/**
 * A release's revision: `<service>-<release, 7>-<template hash, 5>`, 14 characters after the
 * service name (42 + 14 = 56, within 63). The release is the deployed commit; the hash is of the
 * whole template, so the same release and settings always give the same name and any change a new
 * one (Cloud Run refuses a known revision name with a different template).
 */
export function cloudRunRevisionName(service: string, release: string, template: unknown): string {
  const hash = createHash("sha256")
    .update(stringify(template) ?? "")
    .digest("hex");
  const id =
    release
      .toLowerCase()
      .replace(/[^a-z0-9]/g, "")
      .slice(0, 7) || "release";
  return `${service}-${id}-${hash.slice(0, 5)}`;
}

/** The stack of a fully qualified stack name (`<org>/<project>/<stack>`, as `promoteFrom` is). */
export function stackOfName(fullyQualified: string): string {
  return fullyQualified.slice(fullyQualified.lastIndexOf("/") + 1);
}

/** A Cloud Run service's full name, as the Admin API v2 names it. */
export interface CloudRunServiceName {
  project: string;
  location: string;
  service: string;
}

const CLOUD_RUN_SERVICE = /^projects\/([^/]+)\/locations\/([^/]+)\/services\/([^/]+)$/;

/** `projects/<p>/locations/<r>/services/<name>` (google/cloud/run/v2/service.proto, Service.name). */
export function formatCloudRunService(n: CloudRunServiceName): string {
  return `projects/${n.project}/locations/${n.location}/services/${n.service}`;
}

/** The parts of `projects/<p>/locations/<r>/services/<name>`; undefined when it is not one. */
export function parseCloudRunService(name: string): CloudRunServiceName | undefined {
  const m = CLOUD_RUN_SERVICE.exec(name);
  return m ? { project: m[1]!, location: m[2]!, service: m[3]! } : undefined;
}

/** A revision's short name from `projects/…/services/<s>/revisions/<name>` (or a short name as is). */
export function cloudRunRevisionShortName(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

/** An unqualified Lambda function ARN. */
export interface LambdaArn {
  partition: string;
  region: string;
  account: string;
  functionName: string;
}

const LAMBDA_ARN = /^arn:(aws[a-z-]*):lambda:([a-z0-9-]+):(\d{12}):function:([A-Za-z0-9_-]+)$/;

/** `arn:<partition>:lambda:<region>:<account>:function:<name>` (Lambda API, FunctionArn). */
export function formatLambdaArn(a: LambdaArn): string {
  return `arn:${a.partition}:lambda:${a.region}:${a.account}:function:${a.functionName}`;
}

/** The parts of an unqualified function ARN; undefined for anything else (a qualified ARN too). */
export function parseLambdaArn(arn: string): LambdaArn | undefined {
  const m = LAMBDA_ARN.exec(arn);
  return m ? { partition: m[1]!, region: m[2]!, account: m[3]!, functionName: m[4]! } : undefined;
}
