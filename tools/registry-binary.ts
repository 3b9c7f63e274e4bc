/**
 * Where the tests' registry comes from, so `npm test` needs no set-up step on a fresh machine:
 *
 * 1. `REGISTRY_BIN`, or Debian's `docker-registry` (`/usr/bin/docker-registry`), when it exists;
 * 2. else the CNCF distribution registry built from Go modules (`go install`, the module proxy this
 *    machine uses) into the toolchain cache that tests/e2e/toolchain.sh uses, once per version;
 * 3. else, with no Go either, an error with the one command to run.
 *
 * Nothing is downloaded but Go modules; the built binary is reused by every later run.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const DISTRIBUTION_MODULE = "github.com/distribution/distribution/v3/cmd/registry";
export const DISTRIBUTION_VERSION = "v3.1.2";
export const SYSTEM_REGISTRY = "/usr/bin/docker-registry";

type Env = Record<string, string | undefined>;

/** The cache tests/e2e/toolchain.sh builds into (`MULTICLOUD_TOOLCHAIN`, else under XDG_CACHE_HOME or ~/.cache). */
export function toolchainCache(env: Env = process.env): string {
  return (
    env.MULTICLOUD_TOOLCHAIN ??
    path.join(
      env.XDG_CACHE_HOME ?? path.join(env.HOME ?? os.homedir(), ".cache"),
      "multicloud-deploy/toolchain",
    )
  );
}

/** The cached build of the registry, whether or not it exists yet. */
export const builtRegistry = (env: Env = process.env) =>
  path.join(toolchainCache(env), "bin", `registry-${DISTRIBUTION_VERSION}`);

const hasGo = (env: Env) => spawnSync("go", ["version"], { env, stdio: "ignore" }).status === 0;

/** The registry binary to run; builds it from Go modules the first time when there is no system one. */
export function registryBinary(env: Env = process.env, log: (line: string) => void = () => {}): string {
  const system = env.REGISTRY_BIN ?? SYSTEM_REGISTRY;
  if (fs.existsSync(system)) return system;
  const built = builtRegistry(env);
  if (fs.existsSync(built)) return built;
  if (!hasGo(env)) {
    throw new Error(
      `no registry for the tests: ${system} not found, and Go is not on PATH to build one. ` +
        `Run \`apt-get install docker-registry\` (as root), or install Go and run the tests again ` +
        `(they build ${DISTRIBUTION_MODULE}@${DISTRIBUTION_VERSION} into ${path.dirname(built)} once)`,
    );
  }
  log(`building ${DISTRIBUTION_MODULE}@${DISTRIBUTION_VERSION} into ${built} (once; ${system} not found)`);
  const gobin = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-registry-build-"));
  try {
    execFileSync("go", ["install", `${DISTRIBUTION_MODULE}@${DISTRIBUTION_VERSION}`], {
      env: { ...env, GOBIN: gobin, GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    fs.mkdirSync(path.dirname(built), { recursive: true });
    // Copied, then renamed into place: a concurrent run never sees half a binary.
    fs.copyFileSync(path.join(gobin, "registry"), `${built}.tmp-${process.pid}`);
    fs.chmodSync(`${built}.tmp-${process.pid}`, 0o755);
    fs.renameSync(`${built}.tmp-${process.pid}`, built);
  } finally {
    fs.rmSync(gobin, { recursive: true, force: true });
  }
  return built;
}
