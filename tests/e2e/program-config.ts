/**
 * What the e2e suites' Pulumi programs (tests/e2e/project, tests/e2e/release) read from their stack:
 * `e2e:registry`, `e2e:commitSha`, `e2e:commitTimestamp`, and the registry credentials.
 */
import * as pulumi from "@pulumi/pulumi";
import type { CommitInfo } from "../../lib/commit";
import type { RegistryLogin } from "../../lib/registry/login";

export function e2eProgramConfig() {
  const config = new pulumi.Config("e2e");
  const registry = config.require("registry");
  const commit: CommitInfo = {
    sha: config.require("commitSha"),
    source: "config",
    dirty: false,
    timestamp: config.requireNumber("commitTimestamp"),
    notes: [],
  };
  // The build pushes with the deployer's current credentials; the verify step logs in by itself at run
  // time (REGISTRY_LOGIN), so a rotated password changes no Command input.
  const login: RegistryLogin = {
    kind: "env",
    usernameVar: "E2E_REGISTRY_USERNAME",
    passwordVar: "E2E_REGISTRY_PASSWORD",
  };
  const auth = {
    address: registry,
    username: process.env.E2E_REGISTRY_USERNAME ?? "",
    password: process.env.E2E_REGISTRY_PASSWORD ?? "",
    login,
  };
  return { config, registry, commit, auth };
}
