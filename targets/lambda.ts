/** The Lambda target: one ECR repository and one LambdaFunction per service. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EcrRepository, LambdaFunction, type LambdaFunctionArgs } from "../components";
import type { StackConfig } from "../lib/config/parse";
import type { LambdaServiceConfig } from "../lib/config/services";
import { ecrRepositoryName } from "../lib/names";
import { platformTagSuffix } from "../lib/platform";
import type { RegistryLogin } from "../lib/registry/login";
import { lambdaSettings, storesSignatures } from "../lib/service-plan";
import type { Target } from "./types";

/** The login for the ECR registry an image URL lives in (another account's, when promoting across accounts). */
export function ecrLoginForRepository(repositoryUrl: string): RegistryLogin {
  const m = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\//.exec(repositoryUrl);
  if (!m) throw new Error(`not an ECR repository URL: ${JSON.stringify(repositoryUrl)}`);
  return { kind: "ecr", region: m[2]!, registryId: m[1]! };
}

/** An ARN passes through; a name is looked up (the ARN carries a random suffix only AWS knows). */
function secretArn(secret: string): pulumi.Input<string> {
  return secret.startsWith("arn:") ? secret : aws.secretsmanager.getSecretOutput({ name: secret }).arn;
}

// Every key of lambdaSettings is a LambdaFunction arg (see targets/cloud-run.ts).
type UnknownSettings = Exclude<keyof ReturnType<typeof lambdaSettings>, keyof LambdaFunctionArgs>;
export const SETTINGS_ARE_ARGS: [UnknownSettings] extends [never] ? true : UnknownSettings = true;

export function lambdaTarget(config: StackConfig): Target<LambdaServiceConfig> {
  const region = config.aws!.region;
  // Looked up once per stack, not per function.
  const callerIdentity = aws.getCallerIdentityOutput();
  const account = callerIdentity.accountId;
  // `arn:<partition>:sts::…`: the partition comes with the identity, no lookup per function.
  const partition = callerIdentity.arn.apply((arn) => arn.split(":")[1]!);
  const auth = EcrRepository.registryAuth(region, account);
  // The policy that lets Lambda pull each service's image: its function is created after it.
  const repositoryPolicies = new Map<string, pulumi.Resource>();
  return {
    repository: (svc) => {
      const ecr = new EcrRepository(`${svc.name}-repo`, {
        repositoryName: ecrRepositoryName(config.ecr.repositoryPrefix, svc.name),
        accountId: account,
        region,
        partition,
        pullAccounts: config.imageConsumers.awsAccounts,
        imageTagPattern: `*-${platformTagSuffix(svc.platform)}-*`,
        keepTaggedImages: config.ecr.keepTaggedImages,
        signedImages: storesSignatures(config, "lambda"),
        expireUntaggedAfterDays: config.ecr.expireUntaggedAfterDays,
        kmsKeyArn: config.ecr.kmsKeyArn,
        adoptExisting: svc.adoptExistingRepository,
        protect: config.protectRegistries,
      });
      repositoryPolicies.set(svc.name, ecr.repositoryPolicy);
      return {
        repositoryUrl: ecr.repositoryUrl,
        cacheRef: ecr.cacheRef(svc.name, svc.platform),
        // ECR stores image manifests only.
        cacheImageManifest: true,
        auth,
        sourceLogin: ecrLoginForRepository,
      };
    },
    deploy: (svc, image, appVersion) => {
      const fn = new LambdaFunction(svc.name, {
        ...lambdaSettings(config, svc),
        image,
        imageAccess: [repositoryPolicies.get(svc.name)!],
        partition,
        appVersion,
        secretArns: Object.fromEntries(
          Object.entries(svc.secrets).map(([k, ref]) => [k, secretArn(ref.secret)] as const),
        ),
      });
      return pulumi.output({
        target: "lambda",
        url: fn.url,
        functionName: fn.functionName,
        imageRef: fn.imageRef,
        architecture: fn.architecture,
      });
    },
  };
}
