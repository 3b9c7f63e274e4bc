/**
 * Stand-ins for the `gcp` (9.37.0) and `aws` (7.48.0) provider plugins, for the e2e suite only: those
 * providers compile patched upstream sources and cannot be built here. They answer with the same
 * function as the offline plan's stand-ins (plan/standins.ts `newResourceState`, `callResult`), so the
 * two can never disagree; the mocks cite the provider behaviour each answer comes from.
 *
 *   tsx tests/e2e/standins/cloud.ts <gcp|aws> <engine address>
 *
 * The deployment they pretend to run in (account, project, regions) comes from
 * E2E_STANDIN_ENVIRONMENT (JSON, a MockEnvironment), which the suite sets per stack: each stack has
 * its own account and project, as in production. Installed only into the suite's PULUMI_HOME.
 *
 * With E2E_FAKE_CLOUD (the release suite), the services they make exist in tools/fake-cloud/, where
 * the release step moves their traffic through the real APIs, and `read` (refresh) reports it back:
 * - `gcp:cloudrunv2/service:Service`: create makes the service with `template.revision` at the traffic
 *   given; update makes the new revision and sends the traffic in state, as the provider's Update
 *   PATCHes `traffic` from state when it is ignored (resource_cloud_run_v2_service.go); read copies
 *   live `traffic` and `traffic_statuses` into state (its Read).
 * - `aws:lambda/function:Function` with `publish`: create publishes version 1, an update of code or
 *   configuration publishes the next (function.go Update: `if d.Get("publish") && (codeUpdate ||
 *   configUpdate …)` → PublishVersion); read takes `version` from the last published
 *   (ListVersionsByFunction).
 * - `aws:lambda/alias:Alias`: create points it at `functionVersion`; read reports the live
 *   `function_version` and `routing_config` (alias.go Read).
 * - delete: a Cloud Run service is refused while `deletionProtection` is not false; an Artifact
 *   Registry or ECR repository takes its images with it in the suite's registries (ECR only when
 *   forced), as the providers and APIs do (see `delete` below).
 * - `gcp:cloudrunv2/getService`: the service as the fake cloud has it, or the data source's `<id> not
 *   found` (data_source_google_cloud_run_v2_service.go), so a re-run knows a revision that never
 *   became ready (lib/release/revision.ts).
 * - `gcp:organizations/getClientConfig`: `accessToken` is a token of the provider's own credentials
 *   (Application Default Credentials), fetched from Google's token endpoint, as the provider's Read
 *   does (`d.providerConfig.TokenSource.Token()`, terraform-provider-google
 *   services/resourcemanager/data_source_google_client_config.go).
 * - `aws:ecr/getAuthorizationToken`: ECR's `GetAuthorizationToken` with the provider's credentials,
 *   for `registryId` if given; `authorizationToken` decoded into `userName` and `password`, with
 *   `proxyEndpoint` and `expiresAt` (RFC 3339) as ECR answered (terraform-provider-aws
 *   internal/service/ecr/authorization_token_data_source.go).
 *   Both are the real clients (google-auth-library, the AWS SDK) calling the real host names, which
 *   the suite's processes resolve to tools/fake-cloud/.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import * as provider from "@pulumi/pulumi/provider";
import stringify from "safe-stable-stringify";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DiffRequest, ReadRequest } = require("@pulumi/pulumi/proto/provider_pb") as {
  DiffRequest: { prototype: { getNews(): unknown; getIgnorechangesList(): string[] } };
  ReadRequest: {
    prototype: {
      getProperties(): unknown;
      getUrn(): string;
      getId(): string;
      getInputs(): { toJavaScript(): Record<string, unknown> } | undefined;
    };
  };
};
import { artifactRegistryHost, formatCloudRunService } from "../../../lib/names";
import { callResult, newResourceState, type MockEnvironment } from "../../../plan/standins";
import { STORED_AS } from "../../../plan/state-diff";

const VERSIONS: Record<string, string> = { gcp: "9.37.0", aws: "7.48.0" };
const [pkg, ...args] = process.argv.slice(2);
if (!pkg || !VERSIONS[pkg]) throw new Error(`usage: cloud.ts <${Object.keys(VERSIONS).join("|")}> <engine>`);
const env = JSON.parse(process.env.E2E_STANDIN_ENVIRONMENT ?? "{}") as MockEnvironment;

/** Each registry host's storage (distribution's filesystem driver), from the suite. */
const storage = JSON.parse(process.env.E2E_REGISTRY_STORAGE ?? "{}") as Record<string, string>;
const repositoryDir = (host: string, repository: string) =>
  storage[host] ? path.join(storage[host], "docker/registry/v2/repositories", repository) : undefined;
function hasImages(host: string, repository: string): boolean {
  const dir = repositoryDir(host, repository);
  return dir !== undefined && fs.existsSync(path.join(dir, "_manifests"));
}
/** A repository's images and uploads go; blobs other repositories link stay, as the registry keeps them. */
function removeRepository(host: string, repository: string): void {
  const dir = repositoryDir(host, repository);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** `urn:pulumi:<stack>::<project>::<parent types$>type::name` → type and name. */
function parse(urn: string): { type: string; name: string } {
  const parts = urn.split("::");
  const types = parts[2]!.split("$");
  return { type: types[types.length - 1]!, name: parts[3]! };
}

function state(urn: string, inputs: Record<string, unknown>) {
  const { type, name } = parse(urn);
  return newResourceState({ type, name, inputs, provider: "", custom: true } as never, env);
}

const FAKE = process.env.E2E_FAKE_CLOUD;
async function fake<T>(pathname: string, body?: unknown): Promise<T> {
  const res = await fetch(`${FAKE}${pathname}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // A Cloud Run refusal of the revision (Binary Authorization), in the provider's words for a create or
  // update (resource_cloud_run_v2_service.go: "Error creating Service: %s", "Error updating Service %q:
  // %s", around googleapi.Error's "googleapi: Error <code>: <message>").
  if (res.status === 400 && pathname === "/_fake/cloudrun/revision") {
    const { error } = (await res.json()) as { error: { message: string } };
    const b = body as { service: string; updating: boolean };
    throw new Error(
      `${b.updating ? `Error updating Service ${JSON.stringify(b.service)}` : "Error creating Service"}: googleapi: Error 400: ${error.message}`,
    );
  }
  if (!res.ok) throw new Error(`fake cloud ${pathname}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface LiveService {
  traffic: Record<string, unknown>[];
  trafficStatuses: Record<string, unknown>[];
  ingress: string;
  etag: string;
  generation: string;
}

/** What the fake cloud says is live, in the provider's output names. */
async function liveOutputs(type: string, props: Record<string, any>): Promise<Record<string, unknown>> {
  if (!FAKE) return {};
  if (type === "gcp:cloudrunv2/service:Service") {
    // Its Read sets these from the Service (resourceCloudRunV2ServiceRead: `d.Set("traffic", …)`,
    // `"traffic_statuses"`, `"ingress"`, `"etag"`, `"generation"`): every write, the release step's
    // traffic PATCH included, gives a new etag and generation.
    const live = await fake<LiveService>(`/v2/${props.id ?? ""}`);
    return {
      traffics: live.traffic,
      trafficStatuses: live.trafficStatuses,
      ingress: live.ingress,
      etag: live.etag,
      generation: live.generation,
    };
  }
  if (type === "aws:lambda/function:Function" && props.publish) {
    const f = await fake<{ versions: string[] }>(`/_fake/lambda/function?fn=${props.name}`);
    const version = f.versions.at(-1) ?? "$LATEST";
    return { version, qualifiedArn: `${props.arn}:${version}` };
  }
  if (type === "aws:lambda/alias:Alias") {
    const a = await fake<{
      FunctionVersion: string;
      RoutingConfig?: { AdditionalVersionWeights?: Record<string, number> };
    }>(`/2015-03-31/functions/${props.functionName}/aliases/${props.name}`);
    const weights = a.RoutingConfig?.AdditionalVersionWeights ?? {};
    // alias.go Read: an alias without weights has no routing_config block.
    return Object.keys(weights).length > 0
      ? { functionVersion: a.FunctionVersion, routingConfig: { additionalVersionWeights: weights } }
      : { functionVersion: a.FunctionVersion };
  }
  return {};
}

/** The invokes whose answers are credentials: asked of the (fake) cloud, as the providers do. */
async function liveInvoke(token: string, inputs: Record<string, any>): Promise<Record<string, unknown>> {
  if (token === "gcp:organizations/getClientConfig:getClientConfig") {
    const { GoogleAuth } = await import("google-auth-library");
    const accessToken = await new GoogleAuth({
      scopes: ["https://www.googleapis.com/auth/cloud-platform"],
    }).getAccessToken();
    return { accessToken };
  }
  if (token === "aws:ecr/getAuthorizationToken:getAuthorizationToken") {
    const { ECRClient, GetAuthorizationTokenCommand } = await import("@aws-sdk/client-ecr");
    const out = await new ECRClient({ region: env.awsRegion }).send(
      new GetAuthorizationTokenCommand(inputs.registryId ? { registryIds: [inputs.registryId] } : {}),
    );
    const data = out.authorizationData![0]!;
    const [userName, password] = Buffer.from(data.authorizationToken!, "base64").toString("utf8").split(":");
    return {
      authorizationToken: data.authorizationToken,
      userName,
      password,
      proxyEndpoint: data.proxyEndpoint,
      expiresAt: data.expiresAt!.toISOString().replace(/\.\d{3}Z$/, "Z"),
    };
  }
  return {};
}

/**
 * `gcp:cloudrunv2/getService`: the service as the fake cloud has it (the data source reads it as the
 * resource's Read does), in the offline plan's shape (plan/standins.ts cites the provider); a missing
 * service is the data source's `<id> not found`.
 */
async function liveService(i: Record<string, any>): Promise<Record<string, unknown>> {
  const id = formatCloudRunService({
    project: i.project ?? env.gcpProject,
    location: i.location ?? env.gcpRegion,
    service: i.name,
  });
  const res = await fetch(`${FAKE}/v2/${id}`);
  if (res.status === 404) throw new Error(`${id} not found`);
  if (!res.ok) throw new Error(`fake cloud /v2/${id}: ${res.status} ${await res.text()}`);
  const s = (await res.json()) as {
    template?: { revision?: string };
    latestCreatedRevision?: string;
    latestReadyRevision?: string;
    trafficStatuses?: Record<string, unknown>[];
  };
  return {
    id,
    trafficStatuses: s.trafficStatuses ?? [],
    name: i.name,
    templates: [{ revision: s.template?.revision ?? "" }],
    latestCreatedRevision: s.latestCreatedRevision ?? "",
    latestReadyRevision: s.latestReadyRevision ?? "",
  };
}

/**
 * A Google API call with the provider's own credentials (Application Default Credentials), by the API's
 * real host name, as the provider's create does; an error answer is the provider's
 * `Error creating <Resource>: googleapi: Error <code>: <message>` (tpgresource's create path wraps the
 * API error; googleapi.Error's text is "googleapi: Error <code>: <message>").
 */
async function googleCreate(resource: string, url: string, data: unknown): Promise<Record<string, any>> {
  const { GoogleAuth } = await import("google-auth-library");
  const client = await new GoogleAuth({
    scopes: ["https://www.googleapis.com/auth/cloud-platform"],
  }).getClient();
  try {
    return (await client.request<Record<string, any>>({ url, method: "POST", data })).data;
  } catch (err) {
    const e = (err as { response?: { status?: number; data?: { error?: { message?: string } } } }).response;
    throw new Error(
      `Error creating ${resource}: googleapi: Error ${e?.status}: ${e?.data?.error?.message ?? String(err)}`,
    );
  }
}

/** What creating or updating a resource does in the fake cloud. */
async function apply(
  type: string,
  outs: Record<string, any>,
  olds?: Record<string, any>,
): Promise<Record<string, unknown>> {
  if (!FAKE) return outs;
  // Note and Attestor: created through Container Analysis and Binary Authorization, as the provider
  // does (resource_container_analysis_note.go sends the note as `attestation`, "Field was renamed in GA
  // API"; resource_binary_authorization_attestor.go sends `userOwnedGrafeasNote`). Updates are not
  // modeled: the suite never changes either.
  if (type === "gcp:containeranalysis/note:Note" && !olds) {
    await googleCreate(
      "Note",
      `https://containeranalysis.googleapis.com/v1/projects/${outs.project}/notes?noteId=${outs.name}`,
      { attestation: outs.attestationAuthority },
    );
    return outs;
  }
  // NoteIamMember: the provider reads the note's policy, adds the member, and writes it back
  // (tpgiamresource/resource_iam_member.go: getIamPolicy, then setIamPolicy).
  if (type === "gcp:containeranalysis/noteIamMember:NoteIamMember" && !olds) {
    const note = `https://containeranalysis.googleapis.com/v1/projects/${outs.project}/notes/${outs.note}`;
    const policy = await googleCreate("NoteIamMember", `${note}:getIamPolicy`, {});
    const bindings = (policy.bindings ?? []) as { role: string; members: string[] }[];
    const binding = bindings.find((b) => b.role === outs.role);
    if (binding) binding.members = [...new Set([...binding.members, outs.member])];
    else bindings.push({ role: outs.role, members: [outs.member] });
    await googleCreate("NoteIamMember", `${note}:setIamPolicy`, { policy: { ...policy, bindings } });
    return outs;
  }
  if (type === "gcp:binaryauthorization/attestor:Attestor" && !olds) {
    const { attestationAuthorityNote: note } = outs;
    const made = await googleCreate(
      "Attestor",
      `https://binaryauthorization.googleapis.com/v1/projects/${outs.project}/attestors?attestorId=${outs.name}`,
      {
        description: outs.description,
        userOwnedGrafeasNote: { noteReference: note.noteReference, publicKeys: note.publicKeys },
      },
    );
    return {
      ...outs,
      attestationAuthorityNote: {
        ...note,
        delegationServiceAccountEmail: made.userOwnedGrafeasNote?.delegationServiceAccountEmail,
      },
    };
  }
  if (type === "gcp:cloudrunv2/service:Service") {
    // Cloud Run checks the new revision's image against the project's Binary Authorization policy when
    // the service sets `binaryAuthorization.useDefault` (a top-level Service field). A refusal fails the
    // create or update, in the provider's words (resource_cloud_run_v2_service.go: "Error creating
    // Service: %s" / "Error updating Service %q: %s" around googleapi's "googleapi: Error 400: …").
    const made = await fake<{ ready: boolean }>("/_fake/cloudrun/revision", {
      binaryAuthorization: outs.binaryAuthorization,
      image: outs.template?.containers?.[0]?.image,
      updating: olds !== undefined,
      service: outs.id,
      revision: outs.template?.revision,
      // Create sends the configured traffic; Update the traffic in state.
      traffic: olds ? olds.traffics : outs.traffics,
      // Cloud Run refuses a known revision name with another template (409): the template names it.
      template: stringify({ ...outs.template, revision: undefined }),
      ingress: outs.ingress,
    });
    // A revision that does not start fails the update's operation, and the provider returns that error
    // (resource_cloud_run_v2_service.go Update: `CloudRunV2OperationWaitTime(…, "Updating Service", …)`,
    // then `return err`; tpgresource/common_operation.go: "Error waiting for %s: %s" around
    // CommonOpError's "Error code %v, message: %s"). Cloud Run's message is the fake's (cloud-run.ts).
    // A first revision that fails (a failed create, kept as a partial state) is not modeled.
    const revision = String(outs.template?.revision ?? "");
    if (olds && !made.ready) {
      throw new Error(
        `Error waiting for Updating Service: Error code 9, message: Revision '${revision}' is not ready and cannot serve traffic.`,
      );
    }
    return { ...outs, ...(await liveOutputs(type, outs)) };
  }
  if (type === "aws:lambda/function:Function" && outs.publish) {
    const { version } = await fake<{ version: string }>("/_fake/lambda/publish", { fn: outs.name });
    return { ...outs, version, qualifiedArn: `${outs.arn}:${version}` };
  }
  if (type === "aws:lambda/alias:Alias" && !olds) {
    await fake("/_fake/lambda/alias", {
      fn: outs.functionName,
      alias: outs.name,
      version: outs.functionVersion,
    });
  }
  return outs;
}

/**
 * The bridge drops the diffs of `ignoreChanges` paths from the Terraform plan, so the planned value is
 * the prior state (pulumi-terraform-bridge `pkg/tfshim/sdk-v2/instance_diff.go`, processIgnoreChanges).
 * The SDK's provider server does not pass the request's ignore list to `diff`; it reads `news` just
 * before calling it, so the list is taken there.
 */
let ignoring: string[] = [];
const getNews = DiffRequest.prototype.getNews;
DiffRequest.prototype.getNews = function (this: typeof DiffRequest.prototype) {
  ignoring = this.getIgnorechangesList();
  return getNews.call(this);
};

/**
 * A refresh's Read returns inputs as well as state, and the engine saves both: the bridge takes "new
 * values for inputs that are already present" from the state it read (pulumi-terraform-bridge
 * pkg/tfbridge/provider.go Read: `ExtractInputsFromOutputs(oldInputs, props, …, isRefresh)` into
 * `ReadResponse.Inputs`). The inputs read live here are strings (the Service's `ingress`, the alias's
 * `functionVersion`), whose extracted value is the value read. The SDK's provider server passes `read`
 * neither the old inputs nor a way to return them unread, so they are taken where it reads the
 * request's state, just before it calls `read` (server.js `read`), and checked to be this read's.
 */
let readRequest: { urn: string; id: string; inputs?: Record<string, unknown> } | undefined;
const getProperties = ReadRequest.prototype.getProperties;
ReadRequest.prototype.getProperties = function (this: typeof ReadRequest.prototype) {
  readRequest = { urn: this.getUrn(), id: this.getId(), inputs: this.getInputs()?.toJavaScript() };
  return getProperties.call(this);
};

const standIn: provider.Provider = {
  version: VERSIONS[pkg],
  async check(_urn, _olds, news) {
    return { inputs: news };
  },
  async diff(_id, urn, olds: Record<string, unknown>, news: Record<string, unknown>) {
    const ignored = new Set(ignoring);
    // The prior state holds what the provider stored, which for some inputs is not what was sent; the
    // provider's diff reads both sides the same way (plan/state-diff.ts STORED_AS cites each).
    const stored = STORED_AS[parse(urn).type] ?? {};
    const same = (k: string) =>
      stored[k] ? stored[k](olds[k]) === stored[k](news[k]) : isDeepStrictEqual(olds[k], news[k]);
    const changed = Object.keys({ ...olds, ...news }).filter((k) => k in news && !ignored.has(k) && !same(k));
    return { changes: changed.length > 0 };
  },
  async create(urn, inputs) {
    const { id, state: outs } = state(urn, inputs);
    const resourceId = id ?? parse(urn).name;
    return { id: resourceId, outs: await apply(parse(urn).type, { ...outs, id: resourceId }) };
  },
  async update(id, urn, olds: Record<string, unknown>, news) {
    return { outs: await apply(parse(urn).type, { ...state(urn, news).state, id }, olds) };
  },
  async read(id, urn, props: Record<string, unknown>) {
    if (readRequest?.urn !== urn || readRequest.id !== id)
      throw new Error(`stand-in: the read request taken is not ${urn}'s (the SDK's server changed)`);
    const olds = readRequest.inputs;
    readRequest = undefined;
    const type = parse(urn).type;
    const live = await liveOutputs(type, { ...props, id });
    const next: Record<string, unknown> = { ...props, ...live };
    if (type === "aws:lambda/alias:Alias" && !("routingConfig" in live)) delete next.routingConfig;
    // Only what was read live can differ from state; an input the program never set stays unset.
    const inputs =
      olds && Object.fromEntries(Object.entries(olds).map(([k, v]) => [k, k in live ? live[k] : v]));
    return { id, props: next, ...(inputs ? { inputs } : {}) };
  },
  async delete(_id, urn, props: Record<string, unknown>) {
    const type = parse(urn).type;
    // Cloud Run refuses to delete a service whose deletion_protection is on, before any API call:
    // terraform-provider-google services/cloudrunv2/resource_cloud_run_v2_service.go
    // resourceCloudRunV2ServiceDelete (`if d.Get("deletion_protection").(bool) { return fmt.Errorf(…) }`,
    // after the deletion_policy check, whose "DELETE" default passes; the schema's Default is true).
    if (type === "gcp:cloudrunv2/service:Service" && props.deletionProtection !== false) {
      throw new Error(
        "cannot destroy service without setting deletion_protection=false and running `terraform apply`",
      );
    }
    // Artifact Registry's DeleteRepository "Deletes a repository and all of its contents"
    // (googleapis google/devtools/artifactregistry/v1/service.proto).
    if (type === "gcp:artifactregistry/repository:Repository") {
      removeRepository(
        artifactRegistryHost(String(props.location)),
        `${props.project}/${props.repositoryId}`,
      );
    }
    // ECR's DeleteRepository refuses a repository with images unless forced, and the provider forces
    // it with force_delete (terraform-provider-aws internal/service/ecr/repository.go
    // resourceRepositoryDelete: `Force: d.Get("force_delete")`; RepositoryNotEmptyException → "ECR
    // Repository (%s) not empty, consider using force_delete").
    if (type === "aws:ecr/repository:Repository") {
      const [host, ...rest] = String(props.repositoryUrl).split("/");
      if (props.forceDelete !== true && hasImages(host!, rest.join("/"))) {
        throw new Error(
          `ECR Repository (${props.name}) not empty, consider using force_delete: RepositoryNotEmptyException`,
        );
      }
      removeRepository(host!, rest.join("/"));
    }
    // Everything else is deleted without a word: nothing in the fake cloud goes.
  },
  async invoke(token, inputs) {
    if (FAKE && token === "gcp:cloudrunv2/getService:getService")
      return { outputs: await liveService(inputs) };
    const outputs = callResult({ token, inputs, provider: "" } as never, env);
    return { outputs: FAKE ? { ...outputs, ...(await liveInvoke(token, inputs)) } : outputs };
  },
};

void provider.main(standIn, args);
