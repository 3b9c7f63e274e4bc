/**
 * Provider mocks that answer what the real providers answer for the resources and functions this
 * program uses: ids in each provider's format, computed outputs (repository URLs, service URIs, ARNs,
 * digests). Every value is derived from the resource's name and inputs, never from the clock or a
 * random source, so two runs with the same inputs produce the same outputs.
 */
import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type * as pulumi from "@pulumi/pulumi";
import stringify from "safe-stable-stringify";
import { imageExportEntries } from "../lib/image-export";
import { formatCloudRunService, formatLambdaArn, secretManagerSecret } from "../lib/names";

export interface MockEnvironment {
  /** Each stack deploys into its own account and project (the deployer's ambient identity decides). */
  awsAccountId: string;
  /** `aws`, `aws-cn` or `aws-us-gov`: what the caller identity's ARN says. */
  awsPartition: string;
  awsRegion: string;
  gcpProject: string;
  gcpRegion: string;
  gcpProjectNumber: string;
  /** Outputs of stacks a StackReference may read, by fully qualified stack name. */
  stackOutputs: Record<string, Record<string, unknown>>;
  /**
   * `pulumi preview`: what only the update can tell (a pushed image's digest, a command's output) is
   * left out of the state, so the SDK makes it unknown, as the real providers do.
   */
  preview?: boolean;
  /**
   * Resource options the mock interface does not pass to `newResource` but the engine acts on: the
   * import id and `ignoreChanges`, by `<type>::<name>` (filled by the harness).
   */
  options?: Map<string, { importId?: string; ignoreChanges: string[] }>;
  /**
   * ECR repositories that exist already, by name, with their encryption as the data source reports
   * it (from a `--state` export); any other name is not found.
   */
  ecrRepositories?: Record<string, { encryptionType: string; kmsKey?: string }>;
  /**
   * Cloud Run services that exist already, by full name (`projects/…/services/<name>`), with the
   * revision their last update asked for and the newest ready one (from a `--state` export); any
   * other name is not found.
   */
  cloudRunServices?: Record<string, { asked: string; latestReady?: string; serving?: string[] }>;
}

/**
 * Repositories as a person makes them by hand (console defaults), for the import-match rule below.
 * ECR console: MUTABLE tags, no scan on push, AES256, no tags; `forceDelete` has no counterpart in
 * the ECR API (DescribeRepositories returns no such field), so it lives only in the provider's state
 * and an import reads it back unset. Artifact Registry (`gcloud artifacts repositories create --repository-format
 * docker`): no description, labels, cleanup policies or docker config.
 */
const HAND_MADE: Record<string, (importId: string) => Record<string, unknown>> = {
  "aws:ecr/repository:Repository": (id) => ({
    name: id,
    imageTagMutability: "MUTABLE",
    imageScanningConfiguration: { scanOnPush: false },
    encryptionConfigurations: [{ encryptionType: "AES256" }],
  }),
  "gcp:artifactregistry/repository:Repository": (id) => {
    const [, project, , location, , repositoryId] = id.split("/");
    return { project, location, repositoryId, format: "DOCKER" };
  },
};

/**
 * The engine's import rule: an `import` succeeds only if every input the program declares equals what
 * the provider reads from the existing resource, except the paths in `ignoreChanges` (pulumi docs,
 * "Importing resources": "inputs to import do not match the existing resource"; fixed "by changing
 * your code to match, or adding to the ignoreChanges options").
 */
function checkImport(args: pulumi.runtime.MockResourceArgs, env: MockEnvironment): void {
  const opts = env.options?.get(`${args.type}::${args.name}`);
  if (!opts?.importId) return;
  const existing = HAND_MADE[args.type]?.(opts.importId);
  if (!existing) return;
  const ignored = new Set(opts.ignoreChanges);
  const differing = Object.entries(args.inputs as Record<string, unknown>)
    .filter(([k, v]) => v !== undefined && !ignored.has(k) && !isDeepStrictEqual(v, existing[k]))
    .map(([k]) => k)
    .sort();
  if (differing.length > 0) {
    throw new Error(
      `${args.type} (${args.name}): inputs to import do not match the existing resource; ` +
        `the following properties differed: ${differing.join(", ")}`,
    );
  }
}

const hash = (...parts: unknown[]) =>
  createHash("sha256")
    .update(stringify(parts) ?? "")
    .digest("hex");

/** A Pulumi-style autoname: `<name>-<7 hex>`, stable for the same name. */
const autoname = (name: string) => `${name}-${hash(name).slice(0, 7)}`;

export function newResourceState(
  args: pulumi.runtime.MockResourceArgs,
  env: MockEnvironment,
): { id: string | undefined; state: Record<string, unknown> } {
  checkImport(args, env);
  const i = args.inputs as Record<string, any>;
  const project = i.project ?? env.gcpProject;
  const location = i.location ?? env.gcpRegion;
  const acct = env.awsAccountId;
  const region = env.awsRegion;
  switch (args.type) {
    case "gcp:artifactregistry/repository:Repository": {
      const id = `projects/${project}/locations/${location}/repositories/${i.repositoryId}`;
      // resource_artifact_registry_repository.go: expand drops `immutable_tags = false` (so create sends
      // no dockerConfig), and flatten always reads `dockerConfig` back as one block, false when unset
      // (magic-modules Repository.yaml `allow_empty_object: true`, the fix of
      // hashicorp/terraform-provider-google#14846's permanent diff).
      const dockerConfig = { immutableTags: Boolean(i.dockerConfig?.immutableTags) };
      return {
        id,
        state: {
          ...i,
          project,
          location,
          name: i.repositoryId,
          dockerConfig,
          createTime: "2026-01-01T00:00:00Z",
        },
      };
    }
    case "gcp:serviceaccount/account:Account": {
      const email = `${i.accountId}@${project}.iam.gserviceaccount.com`;
      return {
        id: `projects/${project}/serviceAccounts/${email}`,
        state: {
          ...i,
          project,
          email,
          member: `serviceAccount:${email}`,
          uniqueId: BigInt(`0x${hash(email).slice(0, 12)}`).toString(),
        },
      };
    }
    case "gcp:cloudrunv2/service:Service": {
      const name = i.name ?? autoname(args.name);
      // `template.revision` names the revision when given ("If this field is omitted, it will be
      // automatically generated based on the Service name", resource_cloud_run_v2_service.go).
      const revision =
        i.template?.revision ?? `${name}-${hash(i.template).slice(0, 5)}-${hash(i.template).slice(5, 8)}`;
      const uri = `https://${name}-${env.gcpProjectNumber}.${location}.run.app`;
      const revisionPath = `projects/${project}/locations/${location}/services/${name}/revisions/${revision}`;
      // traffic is Optional+Computed; "If traffic is empty or not provided, defaults to 100% traffic to
      // the latest Ready Revision" (googleapis google/cloud/run/v2/service.proto, Service.traffic).
      const traffics: Array<Record<string, unknown>> =
        i.traffics && i.traffics.length > 0
          ? i.traffics
          : [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", percent: 100 }];
      return {
        id: formatCloudRunService({ project, location, service: name }),
        state: {
          ...i,
          name,
          project,
          // The deterministic URL Cloud Run gives every service: https://<service>-<project number>.<region>.run.app
          // (Cloud Run docs, "View the service URL"; provider field `uri`, "the main URI").
          uri,
          traffics,
          // traffic_statuses (Computed): {type, revision, percent, tag, uri}; a tag's own URL is
          // `https://<tag>---<service host>` (TrafficTargetStatus.uri, traffic_target.proto).
          trafficStatuses: traffics.map((t) => ({
            type: t.type,
            revision: t.type === "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" ? revision : t.revision,
            percent: t.percent ?? 0,
            tag: t.tag ?? "",
            uri: t.tag ? uri.replace("https://", `https://${String(t.tag)}---`) : "",
          })),
          latestReadyRevision: revisionPath,
          latestCreatedRevision: revisionPath,
          uid: hash(name).slice(0, 32),
        },
      };
    }
    case "gcp:secretmanager/secretIamMember:SecretIamMember": {
      // iam_secret_manager_secret.go SecretManagerSecretIamUpdaterProducer: a full name's project wins
      // over the `project` given (its qualifiers are copied over the provider's), and is stored as
      // `project`; `secret_id` is stored as `projects/<project>/secrets/<id>`.
      const parsed = secretManagerSecret(String(i.secretId));
      const project = parsed.project ?? i.project;
      const secretId = `projects/${project}/secrets/${parsed.secretId}`;
      return {
        id: `${secretId}/${i.role}/${i.member}`,
        state: { ...i, project, secretId, etag: `BwY${hash(i).slice(0, 9)}` },
      };
    }
    case "gcp:containeranalysis/note:Note":
      // resource_container_analysis_note.go: id `projects/{{project}}/notes/{{name}}`; `name` reads back
      // short (flattenContainerAnalysisNoteName → GetResourceNameFromSelfLink).
      return {
        id: `projects/${project}/notes/${i.name}`,
        state: { ...i, project, createTime: "2026-01-01T00:00:00Z", updateTime: "2026-01-01T00:00:00Z" },
      };
    case "gcp:binaryauthorization/attestor:Attestor": {
      // resource_binary_authorization_attestor.go: id `projects/{{project}}/attestors/{{name}}`;
      // `note_reference` is sent as given when it is `projects/…/notes/…`; a PKIX key's `id` is kept
      // when given (Optional+Computed); `delegation_service_account_email` is Computed. Its value here
      // has the form of the project's Binary Authorization service agent
      // (service-<number>@gcp-sa-binaryauthorization.iam.gserviceaccount.com, "multi-project setup"); the
      // provider says callers "should not make any other assumptions" about it, and the program reads it
      // from the attestor, never builds it.
      const note = i.attestationAuthorityNote ?? {};
      return {
        id: `projects/${project}/attestors/${i.name}`,
        state: {
          ...i,
          project,
          attestationAuthorityNote: {
            ...note,
            delegationServiceAccountEmail: `service-${env.gcpProjectNumber}@gcp-sa-binaryauthorization.iam.gserviceaccount.com`,
          },
        },
      };
    }
    case "gcp:containeranalysis/noteIamMember:NoteIamMember":
    case "gcp:cloudrunv2/serviceIamMember:ServiceIamMember":
    case "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember":
      return { id: `${args.name}/${i.role}/${i.member}`, state: { ...i, etag: `BwY${hash(i).slice(0, 9)}` } };
    case "docker-build:index:Image": {
      const entries = imageExportEntries(i);
      const tags = (i.tags ?? []) as string[];
      // buildx writes the tags over the image exporter's name (docker/buildx build/opt.go, "fill in
      // image exporter names from tags") and BuildKit then refuses the push (moby/buildkit
      // util/push/push.go). docker-build turns pushes off in preview, so only an update fails.
      const byDigest = entries.some((e) => e.type === "image" && e.attrs["push-by-digest"] === "true");
      const pushes = i.push === true || entries.some((e) => e.type === "image" && e.attrs.push === "true");
      if (byDigest && pushes && tags.length > 0 && !env.preview) {
        throw new Error(`failed to push: can't push tagged ref ${tags[0]} by digest`);
      }
      // The registry's manifest digest: a function of everything that shapes the build. Builds are
      // reproducible (lib/image-export.ts), so the same inputs give the same digest in preview and up.
      const digest = `sha256:${hash(i.context, i.dockerfile, i.platforms, i.buildArgs, i.labels, i.target)}`;
      const contextHash = hash(i.context).slice(0, 64);
      // In preview the provider builds (without pushing) when buildOnPreview is on, its default, and
      // every input is known; it then returns the build's digest (provider/internal/image.go Create:
      // shouldBuildOnPreview, buildable, ExporterImageDigestKey). Otherwise the digest stays unknown.
      const known = i.context !== undefined && entries.length === ((i.exports ?? []) as unknown[]).length;
      if (env.preview && !((i.buildOnPreview ?? true) && known)) {
        return { id: "", state: { ...i, contextHash } };
      }
      // `ref` is the first tag with the digest; with no tags it stays empty (image.go Create).
      const ref = tags[0] ? `${tags[0].replace(/:[^/:]*$/, "")}@${digest}` : "";
      return {
        id: env.preview ? "" : digest,
        state: { ...i, digest, ref, contextHash },
      };
    }
    case "command:local:Command":
      // pulumi-command v1.2.1 local/commandController.go Create: "If in preview, don't run the
      // command" (stdout/stderr stay unknown); the id is NewUniqueHex(name); stdout loses its trailing
      // newline (local/commandOutputs.go run).
      if (env.preview) return { id: "", state: { ...i } };
      return {
        id: autoname(args.name),
        state: { ...i, stdout: `ok: ${String(i.create ?? "").split(" ")[2] ?? ""}`, stderr: "" },
      };
    case "aws:ecr/repository:Repository":
      return {
        id: i.name,
        state: {
          ...i,
          arn: `arn:${env.awsPartition}:ecr:${region}:${acct}:repository/${i.name}`,
          registryId: acct,
          repositoryUrl: `${acct}.dkr.ecr.${region}.amazonaws.com/${i.name}`,
        },
      };
    case "aws:ecr/lifecyclePolicy:LifecyclePolicy":
    case "aws:ecr/repositoryPolicy:RepositoryPolicy":
      return { id: String(i.repository), state: { ...i, registryId: acct } };
    case "aws:iam/role:Role": {
      const name = i.name ?? autoname(args.name);
      return {
        id: name,
        state: {
          ...i,
          name,
          arn: `arn:${env.awsPartition}:iam::${acct}:role/${name}`,
          uniqueId: `AROA${hash(name).slice(0, 17).toUpperCase()}`,
        },
      };
    }
    case "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
      return { id: `${i.role}-${hash(i.policyArn).slice(0, 8)}`, state: i };
    case "aws:iam/rolePolicy:RolePolicy": {
      const name = i.name ?? autoname(args.name);
      return { id: `${i.role}:${name}`, state: { ...i, name } };
    }
    case "aws:cloudwatch/logGroup:LogGroup":
      return {
        id: i.name,
        state: { ...i, arn: `arn:${env.awsPartition}:logs:${region}:${acct}:log-group:${i.name}` },
      };
    case "aws:lambda/function:Function": {
      const name = i.name ?? autoname(args.name);
      const arn = formatLambdaArn({ partition: env.awsPartition, region, account: acct, functionName: name });
      // With `publish`, creating the function publishes version 1; Read takes `version` from the last
      // entry of ListVersionsByFunction, and `qualified_arn` is `<arn>:<version>` (function.go). Without
      // it the function has only $LATEST.
      const version = i.publish ? "1" : "$LATEST";
      return {
        id: name,
        state: {
          ...i,
          name,
          arn,
          qualifiedArn: `${arn}:${version}`,
          invokeArn: `arn:${env.awsPartition}:apigateway:${region}:lambda:path/2015-03-31/functions/${arn}/invocations`,
          version,
        },
      };
    }
    case "aws:lambda/alias:Alias": {
      // alias.go: the id and `arn` are the alias ARN `<function arn>:<name>`; `invoke_arn` wraps it.
      const arn = `arn:${env.awsPartition}:lambda:${region}:${acct}:function:${i.functionName}:${i.name}`;
      return {
        id: arn,
        state: {
          ...i,
          arn,
          invokeArn: `arn:${env.awsPartition}:apigateway:${region}:lambda:path/2015-03-31/functions/${arn}/invocations`,
        },
      };
    }
    case "aws:lambda/functionUrl:FunctionUrl": {
      // function_url.go: the id is `<function>` or `<function>/<qualifier>`; the URL is
      // `https://<url_id>.lambda-url.<region>.on.aws/`, one per function and qualifier.
      const urlId = hash(i.functionName, i.qualifier ?? "").slice(0, 32);
      return {
        id: i.qualifier ? `${i.functionName}/${i.qualifier}` : String(i.functionName),
        state: { ...i, urlId, functionUrl: `https://${urlId}.lambda-url.${region}.on.aws/` },
      };
    }
    case "aws:lambda/permission:Permission":
      return {
        id: `${i.function}-${autoname(args.name)}`,
        state: { ...i, statementId: autoname(args.name) },
      };
    case "aws:lambda/invocation:Invocation":
      return {
        id: `${i.functionName}_$LATEST_${hash(i.input).slice(0, 32)}`,
        state: { ...i, result: JSON.stringify({ status: "healthy" }) },
      };
    case "pulumi:pulumi:StackReference": {
      const name = String(i.name ?? args.name);
      return { id: name, state: { name, outputs: env.stackOutputs[name] ?? {}, secretOutputNames: [] } };
    }
    default:
      return { id: args.custom ? `${args.name}-id` : undefined, state: i };
  }
}

/**
 * What `gcp.cloudrun.getLocations` answers (the Cloud Run Admin API's locations): the regions of
 * https://cloud.google.com/run/docs/locations, tier 1 and tier 2, as that page lists them.
 */
export const CLOUD_RUN_LOCATIONS = [
  ...["asia-east1", "asia-northeast1", "asia-northeast2", "europe-north1", "europe-southwest1"],
  ...["europe-west1", "europe-west4", "europe-west8", "europe-west9", "me-west1", "us-central1"],
  ...["us-east1", "us-east4", "us-east5", "us-south1", "us-west1"],
  ...["africa-south1", "asia-east2", "asia-northeast3", "asia-southeast1", "asia-southeast2"],
  ...["asia-south1", "asia-south2", "australia-southeast1", "australia-southeast2", "europe-central2"],
  ...["europe-west10", "europe-west12", "europe-west2", "europe-west3", "europe-west6", "me-central1"],
  ...["me-central2", "northamerica-northeast1", "northamerica-northeast2", "southamerica-east1"],
  ...["southamerica-west1", "us-west2", "us-west3", "us-west4"],
] as const;

/**
 * What `gcp.artifactregistry.getLocations` answers (`GET /v1/projects/{project}/locations`,
 * data_source_artifact_registry_locations.go): here every Cloud Run region plus the multi-regions
 * (gcloud command_lib/artifacts/util.py `_ALLOWED_GCR_REPO_LOCATION`: us, europe, asia).
 */
export const ARTIFACT_REGISTRY_LOCATIONS = [...CLOUD_RUN_LOCATIONS, "us", "europe", "asia"] as const;

export function callResult(args: pulumi.runtime.MockCallArgs, env: MockEnvironment): Record<string, unknown> {
  const i = args.inputs as Record<string, any>;
  switch (args.token) {
    case "gcp:organizations/getClientConfig:getClientConfig":
      return {
        id: "client-config",
        accessToken: "ya29.mock-access-token",
        project: env.gcpProject,
        region: env.gcpRegion,
        zone: "",
      };
    case "gcp:serviceaccount/getAccountIdToken:getAccountIdToken":
      // A JWT-shaped stand-in whose payload names the audience and the account, as Google's would.
      return {
        id: `${i.targetServiceAccount}/${i.targetAudience}`,
        ...i,
        idToken: `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ aud: i.targetAudience, email: i.targetServiceAccount })).toString("base64url")}.mock-signature`,
      };
    case "gcp:cloudrun/getLocations:getLocations":
      return { id: `projects/${i.project}`, project: i.project, locations: [...CLOUD_RUN_LOCATIONS] };
    case "gcp:artifactregistry/getLocations:getLocations":
      return { id: `projects/${i.project}`, project: i.project, locations: [...ARTIFACT_REGISTRY_LOCATIONS] };
    case "gcp:organizations/getProject:getProject":
      return {
        id: `projects/${i.projectId}`,
        projectId: i.projectId,
        number: env.gcpProjectNumber,
        name: i.projectId,
      };
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return {
        id: env.awsAccountId,
        accountId: env.awsAccountId,
        arn: `arn:${env.awsPartition}:sts::${env.awsAccountId}:assumed-role/deployer/session`,
        userId: "AROAMOCK:session",
      };
    case "aws:index/getPartition:getPartition":
      return {
        id: env.awsPartition,
        partition: env.awsPartition,
        dnsSuffix: "amazonaws.com",
        reverseDnsPrefix: "com.amazonaws",
      };
    case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
      return {
        id: env.awsRegion,
        authorizationToken: Buffer.from("AWS:mock-ecr-password").toString("base64"),
        userName: "AWS",
        password: "mock-ecr-password",
        proxyEndpoint: `https://${i.registryId ?? env.awsAccountId}.dkr.ecr.${env.awsRegion}.amazonaws.com`,
        expiresAt: "2026-01-01T12:00:00Z",
      };
    case "aws:ecr/getRepository:getRepository": {
      // repository_data_source.go dataSourceRepositoryRead: a missing repository is an error.
      const known = env.ecrRepositories?.[i.name];
      if (!known) {
        // The engine hands a provider's invoke error to the SDK as the RPC's details (pulumi/pulumi
        // pkg/resource/deploy/source_eval.go resmon Invoke: "invocation of %v returned an error: %w");
        // the SDK throws those (runtime/invoke.js `new Error(err.details)`). The text after it is
        // terraform-plugin-sdk helper/retry NotFoundError.Error(): "couldn't find resource".
        const message = `reading ECR Repository (${i.name}): couldn't find resource`;
        throw Object.assign(new Error(message), {
          details: `invocation of ${args.token} returned an error: invoking ${args.token}: 1 error occurred:\n\t* ${message}`,
        });
      }
      return {
        id: i.name,
        name: i.name,
        encryptionConfigurations: [{ encryptionType: known.encryptionType, kmsKey: known.kmsKey ?? "" }],
        repositoryUrl: `${env.awsAccountId}.dkr.ecr.${env.awsRegion}.amazonaws.com/${i.name}`,
      };
    }
    case "gcp:cloudrunv2/getService:getService": {
      // data_source_google_cloud_run_v2_service.go dataSourceGoogleCloudRunV2ServiceRead: the id is
      // `projects/{{project}}/locations/{{location}}/services/{{name}}` (project from the provider when
      // unset), and a service the Read finds missing (404 clears the id) is `fmt.Errorf("%s not found", id)`.
      // The data source's schema is the resource's (DatasourceSchemaFromResourceSchema): `template` is
      // a one-element list (`templates` in the SDK's result), revision names are full resource names.
      const id = formatCloudRunService({
        project: i.project ?? env.gcpProject,
        location: i.location ?? env.gcpRegion,
        service: i.name,
      });
      const known = env.cloudRunServices?.[id];
      if (!known) {
        const message = `${id} not found`;
        throw Object.assign(new Error(message), {
          details: `invocation of ${args.token} returned an error: invoking ${args.token}: 1 error occurred:\n\t* ${message}`,
        });
      }
      const full = (r: string) => `${id}/revisions/${r}`;
      return {
        id,
        name: i.name,
        templates: [{ revision: known.asked }],
        latestCreatedRevision: full(known.asked),
        latestReadyRevision: known.latestReady ? full(known.latestReady) : "",
        // Each serving revision's share; a stand-in knows which serve, not how much.
        trafficStatuses: (known.serving ?? []).map((r, _, all) => ({
          type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
          revision: r,
          percent: Math.floor(100 / all.length),
        })),
      };
    }
    case "aws:secretsmanager/getSecret:getSecret":
      return {
        id: i.name,
        name: i.name,
        arn: `arn:${env.awsPartition}:secretsmanager:${env.awsRegion}:${env.awsAccountId}:secret:${i.name}-${hash(i.name).slice(0, 6)}`,
      };
    default:
      throw new Error(`the offline plan has no stand-in for ${args.token}; add one to plan/standins.ts`);
  }
}
