import * as command from "@pulumi/command";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { ComponentArgError } from "../lib/errors";
import { transform, type Transform } from "../lib/transform";
import {
  cloudRunInvokerGrantName,
  memberSlug,
  cloudRunRevisionName,
  formatCloudRunService,
  cloudRunSecretGrantName,
  legacyCloudRunSecretGrantName,
  runtimeServiceAccountId,
  secretManagerSecret,
} from "../lib/names";
import {
  encodeReleaseStep,
  releaseTrigger,
  type GateRetry,
  resolveAnalysis,
  rolloutAnalysisProblems,
  type RolloutSettings,
} from "../lib/release";
import { chooseRevision, liveRevisionsOf, type LiveRevisions } from "../lib/release/revision";
import { STEP_MARKER, STEPS } from "../lib/verify-step";

export const CLOUD_RUN_SERVICE_TYPE = "multicloud:gcp:CloudRunService";

import { CLOUD_RUN_DEFAULTS as D } from "../lib/service-defaults";
import type { ContainerImage } from "./container-image";

export interface CloudRunSecretRef {
  /** Secret Manager secret id or full name. */
  secret: string;
  /** `latest` or a version number. */
  version: string;
}

export interface CloudRunServiceArgs {
  /** Project the service and its runtime service account live in. */
  project: pulumi.Input<string>;
  /** Cloud Run region, e.g. `us-central1`. */
  region: pulumi.Input<string>;
  /** Cloud Run service name. @default - the component name */
  serviceName?: pulumi.Input<string>;
  /**
   * The verified image: the service runs its `imageRef` (`repo@sha256:…`) and depends on its
   * verification step explicitly. Cloud Run runs linux/amd64 images only.
   */
  image: ContainerImage;
  /** Commit SHA, given to the container as APP_VERSION. */
  appVersion: pulumi.Input<string>;
  /**
   * What this release is called: the commit being deployed. With a hash of the revision template it
   * names the revision `<service>-<release, 7 characters>-<hash, 5>`, so one release always makes the
   * same revision and any change to the template makes a new one (a rollback at a later commit
   * included, whose image and APP_VERSION are an earlier commit's).
   * @default - appVersion
   */
  release?: pulumi.Input<string>;
  /**
   * Move traffic to a new revision in steps (percentages, then 100), waiting and gating at each; a
   * failure at any step returns all traffic to the revision that served before.
   * @default - all at once, after the gate passes
   */
  rollout?: RolloutSettings;
  /** Given to the container as NODE_ENV. */
  nodeEnv: pulumi.Input<string>;
  /** Plain environment variables. @default {} */
  env?: Record<string, pulumi.Input<string>>;
  /**
   * Env var name → Secret Manager reference. Plain: each secret gets one accessor grant (two env vars
   * reading one secret share it), stated in the secret's own project.
   * @default {}
   */
  secrets?: Record<string, CloudRunSecretRef>;
  /**
   * Seconds to wait after new accessor grants, before the service's create or update that reads them.
   * Cloud Run's create fails on "permission denied on secret" without retrying (the provider fails on
   * the operation's error: resource_cloud_run_v2_service.go, cloud_run_v2_operation.go), and an IAM
   * grant takes time to apply ("typically within 2 minutes", Google's "Access change propagation").
   * Only a new grant waits; 0 never waits.
   * @default 90
   */
  grantPropagationSeconds?: number;
  /** @default 8080 */
  port?: number;
  /** @default "1" */
  cpu?: string;
  /** @default "512Mi" */
  memory?: string;
  /** Throttle CPU outside requests. @default true */
  cpuIdle?: boolean;
  /** @default true */
  startupCpuBoost?: boolean;
  /** Concurrent requests per instance. @default 80 */
  concurrency?: number;
  /** Request timeout in seconds. @default 300 */
  timeoutSeconds?: number;
  /** @default 0 */
  minInstances?: number;
  /** @default 10 */
  maxInstances?: number;
  /** @default "all" */
  ingress?: "all" | "internal" | "internal-and-cloud-load-balancing";
  /** Path of the health endpoint for probes and the health gate. @default "/health" */
  healthPath?: string;
  /**
   * `public` grants `roles/run.invoker` to `allUsers`; an explicit choice. Plain: it decides children.
   * @default "private"
   */
  exposure?: "public" | "private";
  /** IAM members that may invoke the service. Plain: one grant per member (repeats are one). @default [] */
  invokers?: string[];
  /** Cloud Run deletion protection. @default true */
  deletionProtection?: boolean;
  /**
   * A service created before one grant per binding (issue 21) keeps its `<name>-health-invoker`, the
   * second grant of its health account's invoker binding, registered and retained (docs/upgrading.md).
   * @default false
   */
  keepRetainedGrants?: boolean;
  /**
   * Cloud Run enforces the project's Binary Authorization policy on every revision
   * (`binaryAuthorization.useDefault`): a revision whose image the policy does not admit is refused,
   * even one deployed by hand (docs/signing.md, "Binary Authorization"). Plain: the plan shows it.
   * @default false
   */
  binaryAuthorization?: boolean;
  /**
   * What lets Cloud Run pull the image, when the stack makes it (a reader grant for the service agent
   * on another project's repository): the service is created after these. One grant serves every
   * service of a project, so the caller makes it (ArtifactRegistryRepository.grantReader).
   * @default []
   */
  imageAccess?: pulumi.Resource[];
  /**
   * Before a new revision takes any traffic, request `<its tag URL><healthPath>` until it answers
   * healthy; if it never does, traffic stays where it was and the update fails. A private service is
   * asked with an identity token of `healthGateServiceAccount`; without one it has no gate (the plan
   * says so) and traffic moves once the revision is ready.
   * @default true
   */
  healthGate?: boolean;
  /**
   * How hard the health gate tries (lib/release/step.ts GateRetry); a definite failure (the service's
   * own 500, twice in a row) ends it early. Each key defaults separately.
   * @default {"attempts":10,"intervalSeconds":3,"timeoutSeconds":10}
   */
  healthGateRetry?: Partial<GateRetry>;
  /**
   * For private services: a service account that is granted `roles/run.invoker` on the service and
   * whose identity token the release step mints when the gate runs (the deployer needs
   * `roles/iam.serviceAccountOpenIdTokenCreator` on it; a preview needs nothing).
   * Plain: it decides whether the grant exists.
   * @default - no identity: a private service has no health gate
   */
  healthGateServiceAccount?: string;
  /** Labels on the service; `managed-by` and `exposure` are always set (after these). @default {} */
  labels?: Record<string, string>;
  /**
   * Changes a child's args or options before it is created (the escape hatch for a field this
   * component does not expose); see lib/transform.ts.
   * @default - no change
   */
  transform?: {
    serviceAccount?: Transform<gcp.serviceaccount.AccountArgs>;
    secretGrant?: Transform<gcp.secretmanager.SecretIamMemberArgs>;
    service?: Transform<gcp.cloudrunv2.ServiceArgs>;
    invokerGrant?: Transform<gcp.cloudrunv2.ServiceIamMemberArgs>;
    release?: Transform<command.local.CommandArgs>;
    grantsSettle?: Transform<command.local.CommandArgs>;
  };
}

const INGRESS = {
  all: "INGRESS_TRAFFIC_ALL",
  internal: "INGRESS_TRAFFIC_INTERNAL_ONLY",
  "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
} as const;

/**
 * A Cloud Run service that runs a verified image by digest, as a dedicated runtime service account
 * that may read exactly its own secrets, with startup and liveness probes and explicit invokers.
 * Each release is a revision with a deterministic name that starts with no traffic; its release step
 * (the one owner of the service's traffic) gates it on its own tag URL, then moves traffic to it.
 */
export class CloudRunService extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly serviceAccountEmail: pulumi.Output<string>;
  readonly imageRef: pulumi.Output<string>;
  readonly latestRevision: pulumi.Output<string>;
  /** The revision this release creates (`<service>-<release>-<template hash>`). */
  readonly revision: pulumi.Output<string>;
  readonly serviceAccount: gcp.serviceaccount.Account;
  readonly service: gcp.cloudrunv2.Service;
  readonly secretGrants: gcp.secretmanager.SecretIamMember[];
  readonly invokerGrants: gcp.cloudrunv2.ServiceIamMember[];
  /** The release step: gates the revision, then moves traffic to it (or back). */
  readonly release: command.local.Command;
  /** Waits after new accessor grants (see grantPropagationSeconds); unset without secrets. */
  readonly grantsSettle: command.local.Command | undefined;

  constructor(name: string, args: CloudRunServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(CLOUD_RUN_SERVICE_TYPE, name, {}, opts);
    const a = normalizeCloudRunArgs(args);
    const analysis = rolloutAnalysisProblems(a.rollout);
    if (analysis.length > 0)
      throw new ComponentArgError("CloudRunService", name, "rollout", analysis.join("; "));
    this.serviceAccount = this.runtimeIdentity(name, a);
    this.secretGrants = this.secretAccess(name, a);
    this.grantsSettle = this.settleGrants(name, a);
    const { service, revision } = this.runService(name, a);
    this.service = service;
    this.revision = revision;
    this.invokerGrants = this.invokers(name, a);
    this.url = this.service.uri;
    this.latestRevision = this.service.latestReadyRevision;
    this.serviceAccountEmail = this.serviceAccount.email;
    this.imageRef = a.image.imageRef;
    const gate = gateKind(a);
    this.release = this.releaseStep(name, a, gate);
    if (a.healthGate && gate === "none") {
      pulumi.log.info(
        `health gate skipped: ${name} is private and has no healthGateServiceAccount to call it with; ` +
          `set one, or check ${a.healthPath} with \`gcloud run services proxy\``,
        this,
      );
    }

    this.registerOutputs({
      url: this.url,
      serviceAccountEmail: this.serviceAccountEmail,
      imageRef: this.imageRef,
      latestRevision: this.latestRevision,
      revision: this.revision,
      // Structured facts for the offline plan (which says when a service has no gate, and shows the release).
      healthGate: gate !== "none",
      rollout: a.rollout,
    });
  }

  /** The dedicated runtime service account, never the default compute account. */
  private runtimeIdentity(name: string, a: Normalized): gcp.serviceaccount.Account {
    return new gcp.serviceaccount.Account(
      ...transform(
        a.transform?.serviceAccount,
        `${name}-sa`,
        {
          project: a.project,
          accountId: runtimeServiceAccountId(name),
          displayName: `Cloud Run runtime identity of ${name}`,
          description:
            "Dedicated runtime service account (managed by multicloud-deploy); never the default compute account.",
        },
        { parent: this },
      ),
    );
  }

  /**
   * One accessor grant per secret, named by that binding (see cloudRunSecretGrantName), in the
   * secret's own project: the provider stores the project it parses from a full name, and `project`
   * is ForceNew, so any other project would replace the grant on every update
   * (terraform-provider-google iam_secret_manager_secret.go, SecretManagerSecretIamUpdaterProducer).
   * The first env var (by name) that reads a secret gave its grant its name before: an alias keeps it.
   */
  private secretAccess(name: string, a: Normalized): gcp.secretmanager.SecretIamMember[] {
    const member = pulumi.interpolate`serviceAccount:${this.serviceAccount.email}`;
    const serviceProject = typeof a.project === "string" ? a.project : undefined;
    const grants = new Map<string, { secret: string; envNames: string[] }>();
    for (const envName of Object.keys(a.secrets).sort()) {
      const secret = a.secrets[envName]!.secret;
      const grantName = cloudRunSecretGrantName(name, secret, serviceProject);
      const known = grants.get(grantName);
      if (known) known.envNames.push(envName);
      else grants.set(grantName, { secret, envNames: [envName] });
    }
    return [...grants].map(([grantName, { secret, envNames }]) => {
      const legacy = legacyCloudRunSecretGrantName(name, envNames[0]!);
      return new gcp.secretmanager.SecretIamMember(
        ...transform(
          a.transform?.secretGrant,
          grantName,
          {
            project: secretManagerSecret(secret).project ?? a.project,
            secretId: secret,
            role: "roles/secretmanager.secretAccessor",
            member,
          },
          { parent: this, aliases: legacy === grantName ? [] : [{ name: legacy }] },
        ),
      );
    });
  }

  /**
   * A bounded wait after the accessor grants are created, before the service that needs them: it runs
   * when a grant is new (its trigger), and says why it waits.
   */
  private settleGrants(name: string, a: Normalized): command.local.Command | undefined {
    const seconds = a.grantPropagationSeconds;
    // The image reader grant on another project's repository too: a revision that cannot pull fails.
    const grants = [...this.secretGrants, ...a.imageAccess.filter((r) => r instanceof pulumi.CustomResource)];
    if (grants.length === 0 || seconds === 0) return undefined;
    return new command.local.Command(
      ...transform(
        a.transform?.grantsSettle,
        `${name}-grants-settle`,
        {
          create:
            `echo '${name}: waiting ${seconds} s for new grants to apply ` +
            `(Cloud Run does not retry a permission denied on a secret or an image)' >&2; sleep ${seconds}`,
          // A changed wait alone waits for nothing.
          update: "true",
          triggers: grants.map((g) => g.id),
          logging: command.local.Logging.Stderr,
        },
        { parent: this, dependsOn: grants },
      ),
    );
  }

  private runService(
    name: string,
    a: Normalized,
  ): { service: gcp.cloudrunv2.Service; revision: pulumi.Output<string> } {
    const envs: gcp.types.input.cloudrunv2.ServiceTemplateContainerEnv[] = [
      { name: "NODE_ENV", value: a.nodeEnv },
      { name: "APP_VERSION", value: a.appVersion },
      ...Object.keys(a.env)
        .sort()
        .map((k) => ({ name: k, value: a.env[k] })),
      ...Object.keys(a.secrets)
        .sort()
        .map((k) => ({
          name: k,
          valueSource: { secretKeyRef: { secret: a.secrets[k].secret, version: a.secrets[k].version } },
        })),
    ];
    const probe = { httpGet: { path: a.healthPath, port: a.port }, timeoutSeconds: 3 };
    const serviceName = a.serviceName ?? name;
    const template = {
      serviceAccount: this.serviceAccount.email,
      timeout: `${a.timeoutSeconds}s`,
      maxInstanceRequestConcurrency: a.concurrency,
      scaling: { minInstanceCount: a.minInstances, maxInstanceCount: a.maxInstances },
      labels: a.labels,
      containers: [
        {
          image: a.image.imageRef,
          ports: { containerPort: a.port },
          resources: {
            limits: { cpu: a.cpu, memory: a.memory },
            cpuIdle: a.cpuIdle,
            startupCpuBoost: a.startupCpuBoost,
          },
          envs,
          startupProbe: { ...probe, initialDelaySeconds: 0, periodSeconds: 5, failureThreshold: 24 },
          livenessProbe: { ...probe, periodSeconds: 30, failureThreshold: 3 },
        },
      ],
    } satisfies gcp.types.input.cloudrunv2.ServiceTemplate;
    const [resourceName, args, options] = transform(
      a.transform?.service,
      name,
      {
        project: a.project,
        location: a.region,
        name: serviceName,
        deletionProtection: a.deletionProtection,
        ingress: INGRESS[a.ingress],
        labels: a.labels,
        ...(a.binaryAuthorization ? { binaryAuthorization: { useDefault: true } } : {}),
        template,
      } as gcp.cloudrunv2.ServiceArgs,
      {
        parent: this,
        ignoreChanges: ["traffics"],
        // Verified image first; accessor and reader grants before the first revision, or it fails to start.
        dependsOn: [
          a.image.verification,
          ...this.secretGrants,
          ...(this.grantsSettle ? [this.grantsSettle] : []),
          ...a.imageAccess,
        ],
      },
    );
    // Named by the release and the template as it is sent (after any transform): the same release
    // re-run names the same revision, and any change makes a new one (Cloud Run refuses a known name
    // with another template). Not secret even when an env value is: the plan and the pack read it.
    // A name whose revision failed to start is not asked for again (lib/release/revision.ts): what the
    // live service asked for last, and its newest ready revision, decide a fresh one.
    const finalTemplate = pulumi.output(args.template);
    const live = this.liveRevisions(args);
    const revision = pulumi.unsecret(
      pulumi
        .all([
          pulumi.output(args.name ?? serviceName),
          pulumi.output(a.release ?? a.appVersion),
          finalTemplate,
          live,
        ])
        .apply(([svc, release, t, l]) => {
          const choice = chooseRevision(
            cloudRunRevisionName(svc!, release, { ...t, revision: undefined }),
            l,
          );
          if (choice.note) pulumi.log.warn(`${svc}: ${choice.note}`, this);
          return choice.name;
        }),
    );
    const service = new gcp.cloudrunv2.Service(
      resourceName,
      {
        ...args,
        // A plain object stays one, so a preview still knows every field but the revision's name.
        template: pulumi.Output.isInstance(args.template)
          ? pulumi.all([finalTemplate, revision]).apply(([t, r]) => ({ ...t!, revision: r }))
          : { ...args.template!, revision },
        // Traffic may name the revision this request creates (GoogleCloudPlatform terraform-docs-samples
        // run/deploy_tag: `template.revision = "cloudrun-srv-blue"` with a traffic entry for that revision).
        // The first revision takes all traffic at creation (there is nothing to protect); after that
        // the release step owns traffic, and this resource only re-sends what refresh read
        // (Pulumi.yaml `refresh: always`; why: docs/safe-release.md).
        traffics: args.traffics ?? [
          { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision, percent: 100 },
        ],
      },
      options,
    );
    return { service, revision };
  }

  /**
   * The live service's last asked-for and newest ready revision, through the provider's data source
   * (read as refresh reads the service); undefined for a service this update creates. The data source
   * answers a missing service with `<id> not found` (terraform-provider-google
   * data_source_google_cloud_run_v2_service.go), which the engine passes on inside its own message.
   */
  private liveRevisions(args: gcp.cloudrunv2.ServiceArgs): pulumi.Output<LiveRevisions | undefined> {
    return pulumi
      .all([pulumi.output(args.name), pulumi.output(args.project), pulumi.output(args.location)])
      .apply(async ([name, project, location]) => {
        const id = formatCloudRunService({ project: project!, location: location!, service: name! });
        try {
          const s = await gcp.cloudrunv2.getService({ name: name!, project, location }, { parent: this });
          return liveRevisionsOf(s);
        } catch (err) {
          if (String(err instanceof Error ? err.message : err).includes(`${id} not found`)) return undefined;
          throw err;
        }
      });
  }

  /**
   * Public, explicit and health-check invokers: one grant per member, named by that binding (see
   * cloudRunInvokerGrantName), so the health gate's account listed in `invokers` too is one grant.
   * The public and health grants had names of their own before: aliases keep them.
   */
  private invokers(name: string, a: Normalized): gcp.cloudrunv2.ServiceIamMember[] {
    const members = new Map<string, { member: string; legacy?: string }>();
    const add = (member: string, legacy?: string) => {
      const grantName = cloudRunInvokerGrantName(name, member);
      if (!members.has(grantName)) members.set(grantName, { member, legacy });
    };
    if (a.exposure === "public") add("allUsers", `${name}-public-invoker`);
    for (const m of a.invokers) add(m);
    const health = privateGate(a) ? `serviceAccount:${a.healthGateServiceAccount}` : undefined;
    if (health) {
      const known = members.get(cloudRunInvokerGrantName(name, health));
      if (known && known.member.toLowerCase() !== health.toLowerCase()) {
        throw new ComponentArgError(
          "CloudRunService",
          name,
          "healthGateServiceAccount",
          `it and invoker ${known.member} would both be the grant ${cloudRunInvokerGrantName(name, health)}; grant that invoker outside this component`,
        );
      }
      add(health, `${name}-health-invoker`);
    }
    const grants = [...members].map(
      ([grantName, { member, legacy }]) =>
        new gcp.cloudrunv2.ServiceIamMember(
          ...transform(
            a.transform?.invokerGrant,
            grantName,
            {
              project: a.project,
              location: a.region,
              name: this.service.name,
              role: "roles/run.invoker",
              member,
            },
            { parent: this, aliases: legacy ? [{ name: legacy }] : [] },
          ),
        ),
    );
    // Before issue 21 an invoker that was also the health gate's account had a second grant,
    // `<service>-health-invoker`. Deleting it would revoke the binding the kept grant stands for (a
    // Google IAM member delete removes the member whatever else holds it), and `pulumi state delete`
    // refuses while the state lists dependents. So a stack made then (keepRetainedGrants) keeps it
    // registered as it was, retained: no cloud call, and turning the key off later only drops it from
    // the state. A new stack never registers it.
    if (a.keepRetainedGrants && health && a.invokers.some((m) => memberSlug(m) === memberSlug(health))) {
      new gcp.cloudrunv2.ServiceIamMember(
        `${name}-health-invoker`,
        {
          project: a.project,
          location: a.region,
          name: this.service.name,
          role: "roles/run.invoker",
          member: health,
        },
        { parent: this, retainOnDelete: true },
      );
    }
    return grants;
  }

  /**
   * The release step: the one owner of traffic after the first revision. It runs for each new
   * revision (its trigger), gates it on its tag URL, moves traffic, and on failure puts it back.
   */
  private releaseStep(name: string, a: Normalized, gate: GateKind): command.local.Command {
    return new command.local.Command(
      ...transform(
        a.transform?.release,
        `${name}-release`,
        {
          create: pulumi
            .all([this.service.id, this.revision, a.image.releaseChecks])
            .apply(([service, revision, image]) =>
              encodeReleaseStep({
                target: "cloudrun",
                service,
                revision,
                healthPath: a.healthPath,
                gate,
                gateRetry: a.healthGateRetry,
                ...(a.rollout
                  ? { rollout: { steps: a.rollout.steps, waitSeconds: a.rollout.waitSeconds } }
                  : {}),
                ...(a.rollout && gate !== "none" ? { analysis: resolveAnalysis(a.rollout) } : {}),
                image,
              }),
            ),
          // A changed rollout, gate or health path alone releases nothing: the revision is live already.
          update: "true",
          // The image checks read the registry (its login description, never a token) and, for a
          // promoted image, the pinned public key.
          environment: a.image.releaseEnvironment.apply((env) => ({ [STEP_MARKER]: STEPS.release, ...env })),
          // A new revision (new image, env or secret version) is a new release; so is live traffic that
          // names this revision but is not all on it (an interrupted release, then the stack going back
          // to a revision it had released): the step runs and converges it (lib/release releaseTrigger).
          triggers: pulumi
            .all([this.revision, this.service.traffics])
            .apply(([revision, live]) => releaseTrigger(revision, live)),
          logging: command.local.Logging.Stderr,
        },
        { parent: this, dependsOn: [this.service, ...this.invokerGrants] },
      ),
    );
  }
}

type Normalized = ReturnType<typeof normalizeCloudRunArgs>;

/** A private service has a health gate only with an identity to call it with. */
const privateGate = (a: Normalized) =>
  a.healthGate && a.exposure !== "public" && a.healthGateServiceAccount !== undefined;

type GateKind = "none" | "public" | { idTokenFor: string };
function gateKind(a: Normalized): GateKind {
  if (!a.healthGate) return "none";
  if (a.exposure === "public") return "public";
  return privateGate(a) ? { idTokenFor: a.healthGateServiceAccount! } : "none";
}

export function normalizeCloudRunArgs(args: CloudRunServiceArgs) {
  return {
    ...args,
    env: args.env ?? {},
    secrets: args.secrets ?? {},
    port: args.port ?? D.port,
    cpu: args.cpu ?? D.cpu,
    memory: args.memory ?? D.memory,
    cpuIdle: args.cpuIdle ?? D.cpuIdle,
    startupCpuBoost: args.startupCpuBoost ?? D.startupCpuBoost,
    concurrency: args.concurrency ?? D.concurrency,
    timeoutSeconds: args.timeoutSeconds ?? D.timeoutSeconds,
    minInstances: args.minInstances ?? D.minInstances,
    maxInstances: args.maxInstances ?? D.maxInstances,
    ingress: args.ingress ?? D.ingress,
    healthPath: args.healthPath ?? D.healthPath,
    exposure: args.exposure ?? D.exposure,
    invokers: args.invokers ?? [],
    imageAccess: args.imageAccess ?? [],
    grantPropagationSeconds: args.grantPropagationSeconds ?? D.grantPropagationSeconds,
    deletionProtection: args.deletionProtection ?? D.deletionProtection,
    keepRetainedGrants: args.keepRetainedGrants ?? false,
    binaryAuthorization: args.binaryAuthorization ?? false,
    healthGate: args.healthGate ?? D.healthGate,
    healthGateRetry: { ...D.healthGateRetry, ...args.healthGateRetry },
    // `exposure` is what the policy pack's public-exposure-requires-opt-in reads: public is declared,
    // never inferred. It comes after the caller's labels so they cannot contradict it.
    labels: { "managed-by": "multicloud-deploy", ...args.labels, exposure: args.exposure ?? D.exposure },
  };
}
