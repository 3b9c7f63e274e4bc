/**
 * The release suite's Pulumi program: the product's own ContainerImage, CloudRunService and
 * LambdaFunction, one service per cloud, run by the real engine, docker-build and BuildKit, with the
 * gcp and aws stand-ins keeping their services in tools/fake-cloud/ (tests/e2e/release.test.ts).
 * Config (`e2e:*`): registry host, commit, the services' LOG_LEVEL (a change that is a new release)
 * an optional rollout, and how hard the health gate tries (`healthGateRetry`).
 */
import { e2eProgramConfig } from "../program-config";
import { CloudRunService, ContainerImage, LambdaFunction } from "../../../components";
import { cacheTag, imageTag } from "../../../lib/image-tag";
import type { Platform } from "../../../lib/platform";
import type { GateRetry, RolloutSettings } from "../../../lib/release";

const { config, registry, commit, auth } = e2eProgramConfig();
const rollout = config.getObject<RolloutSettings>("rollout");
const healthGateRetry = config.getObject<Partial<GateRetry>>("healthGateRetry");
const env = { LOG_LEVEL: config.get("logLevel") ?? "info" };

function image(name: string, platform: Platform): ContainerImage {
  const inputs = { platform, context: "apps/hello", dockerfile: "Dockerfile", buildArgs: {} };
  return new ContainerImage(name, {
    repositoryUrl: `${registry}/release/${name}`,
    platform,
    tag: imageTag(commit, inputs),
    commit,
    registryAuth: auth,
    build: {
      context: inputs.context,
      dockerfile: inputs.dockerfile,
      cacheRef: `${registry}/release/cache:${cacheTag(name, platform)}`,
    },
  });
}

const api = new CloudRunService("api", {
  project: "acme-e2e",
  region: "us-central1",
  image: image("api", "linux/amd64"),
  appVersion: commit.sha,
  release: commit.sha,
  nodeEnv: "e2e",
  env,
  exposure: "public",
  deletionProtection: false,
  rollout,
  healthGateRetry,
});

const worker = new LambdaFunction("worker", {
  functionName: "worker",
  image: image("worker", "linux/arm64"),
  partition: "aws",
  appVersion: commit.sha,
  nodeEnv: "e2e",
  env,
  functionUrl: true,
  rollout,
  healthGateRetry,
});

export const revision = api.revision;
export const version = worker.version;
export const released = { api: api.release.stdout, worker: worker.release.stdout };
