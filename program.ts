/**
 * The composition root: read and validate the stack config, create one image and one service per
 * configured service, export what other stacks and people need. No business rules here: they live in
 * lib/ (pure, tested) and components/ (wiring).
 *
 * `index.ts` hands {@link main} to Pulumi; the test harness and the offline plan call the same function.
 */
import * as fs from "node:fs";
import * as aws from "@pulumi/aws";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import {
  ArtifactRegistryRepository,
  CloudRunService,
  ContainerImage,
  EcrRepository,
  LambdaFunction,
  type RegistryAuth,
} from "./components";
import { resolveCommit, resolveSourceUrl, runGit, type GitRunner } from "./lib/commit";
import { parseStackConfig, type StackConfig } from "./lib/config/parse";
import { PROJECT } from "./lib/config/schema";
import { UserError } from "./lib/errors";
import { cacheTag, imageTag, type BuildInputs } from "./lib/image-tag";
import { platformTagSuffix } from "./lib/platform";
import { parsePromotedImages, type ImageOutput } from "./lib/promotion";
import type { RegistryLogin } from "./lib/registry/login";

/** What the program reads from the machine it runs on. */
export interface ProgramHost {
  env: Record<string, string | undefined>;
  /** Runs git in the project directory (commit, dirtiness, source URL). */
  git: GitRunner;
}

/** Reads `multicloud-deploy:*` and the provider keys from Pulumi's config, then validates them. */
export function readStackConfig(host: ProgramHost = { env: process.env, git: runGit }): StackConfig {
  const all = pulumi.runtime.allConfig();
  const project: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    if (key.startsWith(`${PROJECT}:`)) project[key.slice(PROJECT.length + 1)] = value;
  }
  const stack = pulumi.getStack();
  const config = parseStackConfig(
    {
      project,
      providers: {
        "gcp:project": all["gcp:project"],
        "gcp:region": all["gcp:region"],
        "aws:region": all["aws:region"],
      },
    },
    {
      stack,
      file: `Pulumi.${stack}.yaml`,
      projectDir: process.cwd(),
      resolveCommit: (configSha) => resolveCommit({ configSha, env: host.env, git: host.git }),
      exists: (p) => fs.existsSync(p),
    },
  );
  return { ...config, sourceUrl: resolveSourceUrl(config.sourceUrl, host.env, host.git) };
}

export async function main(): Promise<Record<string, unknown>> {
  try {
    return await deploy(readStackConfig());
  } catch (err) {
    // User mistakes print as a list, without a stack trace.
    if (UserError.is(err)) throw new pulumi.RunError(err.message);
    throw err;
  }
}

/** Reads what must be known first (the promoted images), then registers everything. */
export async function deploy(config: StackConfig): Promise<Record<string, unknown>> {
  for (const note of config.commit.notes) pulumi.log.warn(note);
  return deployStack(config, await readPromotedImages(config));
}

/**
 * For a promoting stack: the source stack's verified images, read through a StackReference and checked
 * before any other resource is registered, so a missing or malformed output stops the update with one
 * error that names every output at fault.
 */
export async function readPromotedImages(
  config: StackConfig,
): Promise<Record<string, ImageOutput> | undefined> {
  if (config.promoteFrom === undefined) return undefined;
  // Rolled-back services deploy an earlier image of this stack: nothing to read for them.
  const services = config.services.filter((s) => config.rollback[s.name] === undefined);
  const ref = new pulumi.StackReference("promote-from", { name: config.promoteFrom });
  const where = `${config.file}: ${PROJECT}:promoteFrom`;
  let images: pulumi.StackReferenceOutputDetails;
  try {
    images = await ref.getOutputDetails("images");
  } catch (err) {
    // The engine's own message (e.g. the stack does not exist), with the key that names it.
    throw new UserError(`${where}: cannot read stack ${config.promoteFrom}`, [
      `${err instanceof Error ? err.message : String(err)}; check the name (<org>/<project>/<stack>), that the stack exists and that this deployer may read it`,
    ]);
  }
  // A preview (e.g. of a pull request) may run at another commit than the source stack: it shows the
  // promotion with a warning. An update refuses it (see parsePromotedImages).
  const preview = pulumi.runtime.isDryRun();
  const promoted = parsePromotedImages(images.value ?? images.secretValue, config.promoteFrom, services, {
    commit: preview ? undefined : config.commit.sha,
    file: config.file,
  });
  for (const [service, image] of Object.entries(promoted)) {
    if (preview && image.commitSha !== config.commit.sha) {
      pulumi.log.warn(
        `${service}: ${config.promoteFrom} runs commit ${image.commitSha}, this preview is at ${config.commit.sha}; ` +
          "an update at this commit would be refused until that stack runs it",
      );
    }
  }
  return promoted;
}

/**
 * Registers every resource for a validated config (and, when promoting, the source stack's checked
 * images). Exported for the harness and the benchmarks.
 */
export function deployStack(
  config: StackConfig,
  promoted?: Record<string, ImageOutput>,
): Record<string, unknown> {
  const cloudRun = config.services.filter((s) => s.target === "cloudrun");
  const lambdas = config.services.filter((s) => s.target === "lambda");
  const building = promoted === undefined;

  // Looked up once per stack, not per service.
  const ar = config.artifactRegistry;
  const registry =
    cloudRun.length > 0 && config.gcp
      ? new ArtifactRegistryRepository("images", {
          project: ar.project ?? config.gcp.project,
          location: ar.location ?? config.gcp.region,
          repositoryId: ar.repositoryId,
          // A promoting stack builds nothing, so it needs no build cache.
          cacheRepositoryId: building ? ar.cacheRepositoryId : undefined,
          keepTaggedVersions: ar.keepTaggedVersions,
          deleteUntaggedAfterDays: ar.deleteUntaggedAfterDays,
          adoptExisting: ar.adoptExisting,
          protect: config.protectRegistries,
          // A promoting stack reads staging's repository with its own deployer: staging grants it here.
          readers: config.imageConsumers.gcpMembers,
        })
      : undefined;
  const gcpAuth: RegistryAuth | undefined = registry
    ? {
        address: registry.host,
        username: "oauth2accesstoken",
        password: gcp.organizations.getClientConfigOutput().accessToken,
        login: GCP_LOGIN,
      }
    : undefined;
  const callerIdentity = lambdas.length > 0 ? aws.getCallerIdentityOutput() : undefined;
  const awsAccount = callerIdentity?.accountId;
  // `arn:<partition>:sts::…`: the partition comes with the identity, no lookup per function.
  const awsPartition = callerIdentity?.arn.apply((arn) => arn.split(":")[1]!);
  const ecrToken = lambdas.length > 0 ? aws.ecr.getAuthorizationTokenOutput() : undefined;
  const awsAuth: RegistryAuth | undefined = ecrToken
    ? {
        address: ecrToken.proxyEndpoint.apply((e) => e.replace(/^https:\/\//, "")),
        username: ecrToken.userName,
        password: ecrToken.password,
        login: awsAccount!.apply((registryId) => ecrLogin(config.aws!.region, registryId)),
      }
    : undefined;

  const images: Record<string, pulumi.Output<ImageOutput>> = {};
  const services: Record<string, pulumi.Output<unknown>> = {};

  for (const svc of config.services) {
    const inputs: BuildInputs = {
      platform: svc.platform,
      context: svc.context,
      dockerfile: svc.dockerfile,
      buildArgs: svc.buildArgs,
      buildTarget: svc.buildTarget,
    };
    let repositoryUrl: pulumi.Input<string>;
    let cacheRef: pulumi.Input<string>;
    let auth: RegistryAuth;
    let ecr: EcrRepository | undefined;
    if (svc.target === "cloudrun") {
      repositoryUrl = pulumi.interpolate`${registry!.repositoryUrl}/${svc.name}`;
      cacheRef = pulumi.interpolate`${registry!.cacheRepositoryUrl ?? ""}/${svc.name}:${cacheTag(svc.name, svc.platform)}`;
      auth = gcpAuth!;
    } else {
      ecr = new EcrRepository(`${svc.name}-repo`, {
        repositoryName: `${config.ecr.repositoryPrefix}/${svc.name}`,
        accountId: awsAccount!,
        region: config.aws!.region,
        partition: awsPartition!,
        pullAccounts: config.imageConsumers.awsAccounts,
        imageTagPattern: `*-${platformTagSuffix(svc.platform)}-*`,
        keepTaggedImages: config.ecr.keepTaggedImages,
        expireUntaggedAfterDays: config.ecr.expireUntaggedAfterDays,
        kmsKeyArn: config.ecr.kmsKeyArn,
        adoptExisting: svc.adoptExistingRepository,
        protect: config.protectRegistries,
      });
      repositoryUrl = ecr.repositoryUrl;
      cacheRef = pulumi.interpolate`${ecr.repositoryUrl}:${cacheTag(svc.name, svc.platform)}`;
      auth = awsAuth!;
    }

    let image: ContainerImage;
    let commitSha: pulumi.Input<string>;
    // Deployed from an existing image instead of a build: an earlier image of this stack's own
    // registry (rollback; the "copy" is a no-op that proves it is still there), or the source stack's
    // verified image, copied by digest into this stack's protected registry (promotion: prod never
    // depends on staging's registry, whose cleanup policies may delete old images). Verified as always.
    const rollback = config.rollback[svc.name];
    const from = rollback
      ? { ...rollback, repositoryUrl, login: auth.login }
      : promoted
        ? {
            ...promoted[svc.name]!,
            login:
              svc.target === "cloudrun"
                ? GCP_LOGIN
                : ecrLoginForRepository(promoted[svc.name]!.repositoryUrl),
          }
        : undefined;
    if (rollback) {
      pulumi.log.warn(
        `${svc.name}: rolled back to ${rollback.commitSha} (${rollback.digest}) by multicloud-deploy:rollback; ` +
          "remove the key once the fix is deployed",
      );
    }
    if (from) {
      commitSha = from.commitSha;
      image = new ContainerImage(svc.name, {
        repositoryUrl,
        platform: svc.platform,
        tag: from.tag,
        commit: config.commit,
        registryAuth: auth,
        promoted: { sourceRepositoryUrl: from.repositoryUrl, digest: from.digest, sourceLogin: from.login },
      });
    } else {
      commitSha = config.commit.sha;
      image = new ContainerImage(svc.name, {
        repositoryUrl,
        platform: svc.platform,
        tag: imageTag(config.commit, inputs),
        commit: config.commit,
        registryAuth: auth,
        build: {
          context: svc.context,
          dockerfile: svc.dockerfile,
          buildArgs: svc.buildArgs,
          target: svc.buildTarget,
          cacheRef,
          cacheImageManifest: svc.target === "lambda",
          buildOnPreview: config.buildOnPreview,
          sourceUrl: config.sourceUrl,
        },
      });
    }

    if (svc.target === "cloudrun") {
      const gcpConfig = config.gcp!;
      const run = new CloudRunService(svc.name, {
        project: gcpConfig.project,
        region: gcpConfig.region,
        imageRef: image.imageRef,
        verification: image.verification,
        appVersion: commitSha,
        nodeEnv: config.nodeEnv,
        env: svc.env,
        secrets: svc.secrets,
        port: svc.port,
        cpu: svc.cpu,
        memory: svc.memory,
        cpuIdle: svc.cpuIdle,
        startupCpuBoost: svc.startupCpuBoost,
        concurrency: svc.concurrency,
        timeoutSeconds: svc.timeoutSeconds,
        minInstances: svc.minInstances,
        maxInstances: svc.maxInstances,
        ingress: svc.ingress,
        healthPath: svc.healthPath,
        exposure: svc.exposure,
        invokers: svc.invokers,
        deletionProtection: config.deletionProtection,
        imageRepository: {
          project: ar.project ?? gcpConfig.project,
          location: ar.location ?? gcpConfig.region,
          repositoryId: ar.repositoryId,
          serviceProject: gcpConfig.project,
        },
        healthGate: svc.healthGate,
        healthGateServiceAccount: svc.healthGateServiceAccount,
      });
      services[svc.name] = pulumi.output({
        target: "cloudrun",
        url: run.url,
        imageRef: run.imageRef,
        serviceAccount: run.serviceAccountEmail,
      });
    } else {
      const fn = new LambdaFunction(svc.name, {
        functionName: svc.functionName,
        imageUri: image.imageRef,
        partition: awsPartition,
        platform: svc.platform,
        verification: image.verification,
        appVersion: commitSha,
        nodeEnv: config.nodeEnv,
        env: svc.env,
        secretArns: Object.fromEntries(
          Object.entries(svc.secrets).map(([k, ref]) => [k, secretArn(ref.secret)] as const),
        ),
        secretsKmsKeyArn: svc.secretsKmsKeyArn,
        memorySize: svc.memory,
        timeout: svc.timeoutSeconds,
        ephemeralStorageMb: svc.ephemeralStorageMb,
        reservedConcurrency: svc.reservedConcurrency,
        imageConfig: svc.imageConfig,
        logRetentionDays: svc.logRetentionDays,
        functionUrl: svc.functionUrl,
        exposure: svc.exposure,
        healthGate: svc.healthGate,
        healthPath: svc.healthPath,
      });
      services[svc.name] = pulumi.output({
        target: "lambda",
        url: fn.url,
        functionName: fn.functionName,
        imageRef: fn.imageUri,
        architecture: fn.architecture,
      });
    }
    images[svc.name] = pulumi.output({
      repositoryUrl: image.repositoryUrl,
      digest: image.digest,
      tag: image.tag,
      platform: image.platform,
      commitSha,
      // Resolves only after verification: a stack reading these knows they were verified.
      verified: image.verification.stdout.apply(() => true),
    }) as unknown as pulumi.Output<ImageOutput>;
  }

  return { commitSha: config.commit.sha, images, services };
}

const GCP_LOGIN: RegistryLogin = { kind: "gcp" };

function ecrLogin(region: string, registryId: string): RegistryLogin {
  return { kind: "ecr", region, registryId };
}

/** The login for the ECR registry an image URL lives in (another account's, when promoting across accounts). */
function ecrLoginForRepository(repositoryUrl: string): RegistryLogin {
  const m = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\//.exec(repositoryUrl);
  if (!m) throw new Error(`not an ECR repository URL: ${JSON.stringify(repositoryUrl)}`);
  return ecrLogin(m[2]!, m[1]!);
}

/** An ARN passes through; a name is looked up (the ARN carries a random suffix only AWS knows). */
function secretArn(secret: string): pulumi.Input<string> {
  return secret.startsWith("arn:") ? secret : aws.secretsmanager.getSecretOutput({ name: secret }).arn;
}
