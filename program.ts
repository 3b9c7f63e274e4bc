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
import { parse as parseYaml } from "yaml";
import { ContainerImage } from "./components";
import { resolveCommit, resolveSourceUrl, runGit, type GitRunner } from "./lib/commit";
import { parseStackConfig, type StackConfig } from "./lib/config/parse";
import { PROJECT } from "./lib/config/project";
import { ConfigError, UserError } from "./lib/errors";
import { parsePulumiArgs, staleStateProblem } from "./lib/refresh";
import { cliCommandLine } from "./lib/release/ownership";
import { googleLocationProblems } from "./lib/config/regions";
import { ecrEncryptionProblem } from "./lib/fixed-names";
import { ecrRepositoryName, stackOfName } from "./lib/names";
import type { ServiceConfig } from "./lib/config/services";
import { parsePromotedImages, type ImageOutput } from "./lib/promotion";
import { imageArgs, imageSource } from "./lib/service-plan";
import { cloudRunTarget } from "./targets/cloud-run";
import { ecrLoginForRepository, lambdaTarget } from "./targets/lambda";
import { parseImageRef } from "./lib/image-ref";
import { ambientTokenSources } from "./lib/registry/ambient";
import { RegistryClient } from "./lib/registry/client";
import { resolveCredentials } from "./lib/registry/login";
import { verifySignature } from "./lib/signing/verify";
import { stillAllowed } from "./lib/scan/gate";
import type { Target } from "./targets/types";

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
    checkRefresh();
    return await deploy(readStackConfig());
  } catch (err) {
    // User mistakes print as a list, without a stack trace.
    if (UserError.is(err)) throw new pulumi.RunError(err.message);
    throw err;
  }
}

/**
 * Refuses `pulumi up` without refresh, before anything is registered (lib/refresh.ts says why); a
 * preview without it gets a warning. The command is read from the `pulumi` CLI this program runs
 * under; with none (the offline plan, a test) there is nothing to check.
 */
export function checkRefresh(
  argv: string[] | undefined = cliCommandLine(),
  projectYaml: () => string = () => fs.readFileSync("Pulumi.yaml", "utf8"),
): void {
  if (argv === undefined) return;
  const invocation = parsePulumiArgs(argv);
  if (invocation.command === undefined) return;
  const options = (parseYaml(projectYaml()) as { options?: { refresh?: unknown } } | null)?.options;
  const problem = staleStateProblem(
    invocation,
    typeof options?.refresh === "string" ? options.refresh : undefined,
  );
  if (problem?.level === "warning") pulumi.log.warn(problem.message);
  if (problem?.level === "error") throw new UserError(problem.message, []);
}

/** What the program checks in the clouds before it registers anything; the offline plan swaps them. */
export interface ProgramChecks {
  /** Each promoted image's signature at the source, by the pinned key, for its commit. */
  promotedSignatures(config: StackConfig, promoted: Record<string, ImageOutput>): Promise<void>;
}
export const LIVE_CHECKS: ProgramChecks = { promotedSignatures: checkPromotedSignatures };

/** Reads what must be known first (the promoted images, their signatures), then registers everything. */
export async function deploy(
  config: StackConfig,
  checks: ProgramChecks = LIVE_CHECKS,
): Promise<Record<string, unknown>> {
  for (const note of config.commit.notes) pulumi.log.warn(note);
  if (config.builds && config.signing === undefined) {
    pulumi.log.warn(
      `${config.file}: multicloud-deploy:signing is unset, so this stack's images are not signed, and a stack that promotes from it refuses them (docs/signing.md)`,
    );
  }
  if (config.scanGate.allowUnscanned) {
    pulumi.log.warn(
      `${config.file}: multicloud-deploy:scanGate.allowUnscanned is true: an image whose scan is missing, failed or unsupported takes traffic unscanned (docs/scanning.md)`,
    );
  }
  for (const a of config.scanGate.allow.filter((x) => !stillAllowed(x, new Date()))) {
    pulumi.log.warn(
      `${config.file}: multicloud-deploy:scanGate.allow: ${a.id} expired on ${a.expires} and counts again; remove the entry, or renew it with a reason`,
    );
  }
  await Promise.all([checkLocations(config), checkExistingEcrRepositories(config)]);
  const promoted = await readPromotedImages(config);
  if (promoted) await checks.promotedSignatures(config, promoted);
  return deployStack(config, promoted);
}

/**
 * Before anything is registered in a promoting stack: every promoted image carries the source stack's
 * signature (cosign's format) by the pinned public key of its cloud, of that very digest, for the commit
 * the source stack names (lib/signing/verify.ts). The promote step checks again when it copies. An
 * image pushed into the source registry outside the program, or a stack export edited to name another
 * digest, has no such signature: the update stops here, naming the service, the digest and the check.
 */
export async function checkPromotedSignatures(
  config: StackConfig,
  promoted: Record<string, ImageOutput>,
): Promise<void> {
  const problems: string[] = [];
  await Promise.all(
    config.services
      .filter((s) => config.imageSources[s.name] === "promote" && promoted[s.name])
      .map(async (svc) => {
        const image = promoted[svc.name]!;
        const publicKeyPem = config.signatureKeys?.[svc.target === "cloudrun" ? "gcp" : "aws"];
        const { registry, repository } = parseImageRef(image.repositoryUrl);
        // Credentials go only to the cloud's own registry hosts, and the image must be this service's
        // (its repository is named after the service in both clouds): an edited export cannot point
        // one service at another's image, nor send a token elsewhere.
        const wrongPlace =
          svc.target === "cloudrun"
            ? !/^[a-z0-9-]+-docker\.pkg\.dev$/.test(registry)
            : !/^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(registry);
        if (wrongPlace || repository.split("/").at(-1) !== svc.name) {
          problems.push(
            `${svc.name}: ${image.repositoryUrl}@${image.digest} is not in ${svc.target === "cloudrun" ? "an Artifact Registry" : "an ECR"} repository of service ${svc.name}; nothing was read from it`,
          );
          return;
        }
        const login =
          svc.target === "cloudrun" ? ({ kind: "gcp" } as const) : ecrLoginForRepository(image.repositoryUrl);
        const client = new RegistryClient(registry, {
          credentials: await resolveCredentials(login, process.env, ambientTokenSources),
        });
        const check = publicKeyPem
          ? await verifySignature({
              client,
              repository,
              digest: image.digest,
              publicKeyPem,
              commit: image.commitSha,
              stack: config.promoteFrom && stackOfName(config.promoteFrom),
              reference: image.repositoryUrl,
            })
          : ({ ok: false, check: "key", problem: "no public key for this cloud in signatureKeys" } as const);
        if (!check.ok) {
          problems.push(
            `${svc.name}: ${image.repositoryUrl}@${image.digest} failed the "${check.check}" check: ${check.problem}`,
          );
        }
      }),
  );
  if (problems.length > 0) {
    throw new UserError(
      `${config.file}: refusing to promote from ${config.promoteFrom}: ${problems.length} image${problems.length === 1 ? "" : "s"} without a valid signature (nothing was registered; docs/signing.md says what each check means)`,
      problems.sort(),
    );
  }
}

/**
 * The Google region and repository location against the lists the APIs publish for the project
 * (lib/config/regions.ts), before anything is registered: a made-up region fails here, with the key
 * and the closest real one, not halfway through an update.
 */
export async function checkLocations(config: StackConfig): Promise<void> {
  const g = config.gcp;
  if (g === undefined) return;
  const [cloudRun, artifactRegistry] = await Promise.all([
    gcp.cloudrun.getLocations({ project: g.project }),
    gcp.artifactregistry.getLocations({ project: g.artifactRegistry.project }),
  ]);
  const problems = googleLocationProblems(config.file, g, g.artifactRegistry.location === g.region, {
    cloudRun: cloudRun.locations,
    artifactRegistry: artifactRegistry.locations,
  });
  if (problems.length > 0) throw new ConfigError(config.file, problems);
}

/**
 * Each Lambda service's ECR repository, if it exists already: a setting ECR cannot change on it
 * (lib/fixed-names.ts) is refused before anything is registered. The data source reports a missing
 * repository as an error, `reading ECR Repository (<name>): couldn't find resource`
 * (terraform-provider-aws internal/service/ecr/repository_data_source.go dataSourceRepositoryRead;
 * terraform-plugin-sdk helper/retry `NotFoundError.Error()`), which the engine passes on as
 * "invocation of <token> returned an error: …" (pkg/resource/deploy/source_eval.go); the e2e stacks
 * preview runs this through the real engine. That repository is created by this update.
 */
export async function checkExistingEcrRepositories(config: StackConfig): Promise<void> {
  if (config.aws === undefined) return;
  // An adopted repository ignores its encryption until adoption is turned off (ECR_ADOPTION_IGNORED).
  const names = config.services
    .filter((s) => s.target === "lambda" && !s.adoptExistingRepository)
    .map((s) => ecrRepositoryName(config.ecr.repositoryPrefix, s.name));
  const found = await Promise.all(
    names.map((name) =>
      aws.ecr.getRepository({ name }).then(
        (r) => ({ name, encryption: r.encryptionConfigurations[0] }),
        (err: unknown) => {
          if (/couldn't find resource|RepositoryNotFoundException/.test(String(err))) return undefined;
          throw err;
        },
      ),
    ),
  );
  const problems = found
    .filter((r) => r !== undefined)
    .map((r) =>
      ecrEncryptionProblem(
        config.file,
        r.name,
        config.ecr.kmsKeyArn,
        r.encryption ?? { encryptionType: "AES256" },
      ),
    )
    .filter((p) => p !== undefined);
  if (problems.length > 0) throw new ConfigError(config.file, problems);
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
  const services = config.services.filter((s) => config.imageSources[s.name] === "promote");
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
 * images): per service, its target's repository, its image (built, promoted or rolled back, see
 * {@link imageSource}), verified, then the service that runs it. Exported for the plan and benchmarks.
 */
export function deployStack(
  config: StackConfig,
  promoted?: Record<string, ImageOutput>,
): Record<string, unknown> {
  // The config has each cloud's settings exactly when it has services for it (lib/config/parse.ts).
  const cloudRun = config.gcp && cloudRunTarget(config);
  const lambda = config.aws && lambdaTarget(config);
  const images: Record<string, pulumi.Output<ImageOutput>> = {};
  const services: Record<string, pulumi.Output<unknown>> = {};
  /** One service through its own target: typed by the service's kind, no cast. */
  const wire = <S extends ServiceConfig>(svc: S, target: Target<S> | undefined) => {
    if (target === undefined)
      throw new Error(`no ${svc.target} target for ${svc.name}: the config has no settings for it`);
    const repo = target.repository(svc);
    const source = imageSource(config, svc, promoted);
    if (source.kind === "rollback") {
      pulumi.log.warn(
        `${svc.name}: rolled back to ${source.commitSha} (${source.digest}) by multicloud-deploy:rollback; ` +
          "remove the key once the fix is deployed",
      );
    }
    const image = new ContainerImage(svc.name, {
      repositoryUrl: repo.repositoryUrl,
      platform: svc.platform,
      tag: source.tag,
      commit: config.commit,
      registryAuth: repo.auth,
      ...imageArgs(config, svc, source, { ...repo, login: repo.auth.login }),
    });
    services[svc.name] = target.deploy(svc, image, source.commitSha);
    images[svc.name] = pulumi.output({
      repositoryUrl: image.repositoryUrl,
      digest: image.digest,
      tag: image.tag,
      platform: image.platform,
      commitSha: source.commitSha,
      // Resolves only after verification: a stack reading these knows they were verified.
      verified: image.verification.stdout.apply(() => true),
    }) as unknown as pulumi.Output<ImageOutput>;
  };
  for (const svc of config.services) {
    switch (svc.target) {
      case "cloudrun":
        wire(svc, cloudRun);
        break;
      case "lambda":
        wire(svc, lambda);
        break;
      default:
        svc satisfies never;
    }
  }
  return { commitSha: config.commit.sha, images, services };
}
