/**
 * The e2e suite's world, all on this machine and all real but the cloud providers: the toolchain
 * (tests/e2e/toolchain.sh), BuildKit (`buildkitd`, OCI worker on Debian's runc) registered as a buildx
 * "remote" builder, Debian's docker-registry with TLS (a throwaway CA) and token auth, a file
 * backend, and a PULUMI_HOME whose plugins are the real docker-build provider and the command
 * stand-in. Nothing leaves loopback: automatic plugin downloads and update checks are off.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseDocument, type Scalar, type YAMLMap } from "yaml";
import { buildxRemoteBuilder } from "../../deployments/settings";
import {
  makeCertificateAuthority,
  startRegistry,
  type CertificateAuthority,
  type LocalRegistry,
} from "../../tools/local-registry";
import { SYSTEM_REGISTRY } from "../../tools/registry-binary";

export const REPO = path.resolve(__dirname, "../..");
const STACK = "e2e";

/**
 * The cloud registry hosts the repository's stacks push to and copy between (Artifact Registry for
 * us-central1, staging's and prod's ECR), each served on loopback at an address of its own on port
 * 443 (tests/e2e/cloud-env.ts) and resolved there only inside the suite's mount namespaces.
 */
export const CLOUD_REGISTRIES = {
  "us-central1-docker.pkg.dev": "127.0.0.2",
  "111111111111.dkr.ecr.us-east-1.amazonaws.com": "127.0.0.3",
  "222222222222.dkr.ecr.us-east-1.amazonaws.com": "127.0.0.4",
} as const;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall-clock milliseconds. */
  ms: number;
}

export interface E2eEnvironment {
  registry: LocalRegistry;
  /** The suite's throwaway CA: it signed every certificate the suite serves, and everything trusts it. */
  ca: CertificateAuthority;
  /** The Pulumi project directory the CLI runs in (a copy of tests/e2e/project with its fixtures). */
  workDir: string;
  /** The environment every CLI call gets (PATH to the toolchain, PULUMI_HOME, backend, CA, credentials). */
  env: Record<string, string>;
  toolchain: string;
  /** `--policy-pack` argument for the project's pack (policy/), as the engine's analyzer runs it. */
  policyPack: string;
  pulumi(args: string[], extraEnv?: Record<string, string>, cwd?: string): Promise<CliResult>;
  /**
   * The project's own program (Pulumi.yaml at the repository root) in a directory of its own: its
   * sources linked, its stack files the harness's copies (`harnessStackFile`; the CLI also writes an
   * encryption salt into them).
   */
  programDir: string;
  /** Starts the CLI in its own process group, to be killed mid-update. */
  spawnPulumi(args: string[]): ChildProcess;
  buildctl(args: string[]): Promise<CliResult>;
  /** Rotates the registry password the deployer has (the old one keeps working, as in an overlap). */
  rotateCredentials(): void;
  stop(): void;
}

/**
 * Runs a command without blocking this process: the registry's token server runs in it, and a
 * synchronous child would leave BuildKit waiting for tokens that cannot be served.
 */
export function sh(
  bin: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 15 * 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/**
 * A Pulumi project directory for one of the suite's programs (`tests/e2e/project`, `tests/e2e/release`):
 * its Pulumi.yaml and index.ts, the shared image fixtures, the repository's node_modules and scripts
 * (the steps run `node_modules/.bin/tsx scripts/….ts` from the project directory).
 */
export function linkProject(dir: string, program: string, name: string): void {
  fs.cpSync(path.join(REPO, "tests/e2e/project/apps"), path.join(dir, "apps"), { recursive: true });
  fs.copyFileSync(path.join(REPO, program, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  fs.symlinkSync(path.join(REPO, program, "index.ts"), path.join(dir, "index.ts"));
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
  fs.symlinkSync(path.join(REPO, "scripts"), path.join(dir, "scripts"));
  fs.copyFileSync(path.join(REPO, "tsconfig.json"), path.join(dir, "tsconfig.json"));
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, private: true, main: "index.ts" }));
}

/** Real-engine timings go next to the benchmark's (bench/results.json), under `key`. */
export function recordTimings(key: string, timings: Record<string, number>): void {
  if (Object.keys(timings).length === 0) return;
  const file = path.join(REPO, "bench/results.json");
  const results = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  // Merged: several suites (and .ci/run) write one key.
  results[key] = { ...results[key], date: new Date().toISOString(), ...timings };
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

/**
 * `unshare` arguments that run `command` in a mount namespace of its own whose /etc/hosts is `hosts`
 * (bind-mounted over the real one): the process and everything it starts resolve the suite's names
 * to loopback, and the rest of the machine keeps its own.
 */
export function withHosts(hosts: string, command: string[]): string[] {
  return [
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount --bind "$0" /etc/hosts && exec "$@"',
    hosts,
    ...command,
  ];
}

/** Where the harness's copy of the program keeps the FROM scratch build contexts (tests/e2e/project/apps). */
export const FIXTURES = "e2e-apps";

/**
 * The harness's copy of a stack file, which the real-engine suite deploys instead of the repository's
 * (docs/testing in CONTRIBUTING.md says so). Everything else is the repository's, unchanged:
 * - every service's `context` is a FROM scratch fixture (no base image can be pulled here), with its
 *   own Dockerfile; what is built and how (platforms, tags, labels, push by digest) is not changed;
 * - Cloud Run's `grantPropagationSeconds` is 2: the stand-ins' grants hold at once, and the wait
 *   still runs;
 * - prod's `promoteFrom` names the staging stack as the file backend does (`organization/…`, where
 *   Pulumi Cloud has the organization's name).
 */
export function harnessStackFile(text: string): string {
  const doc = parseDocument(text);
  const services = doc.getIn(["config", "multicloud-deploy:services"]) as YAMLMap<Scalar<string>, YAMLMap>;
  for (const pair of services.items) {
    const svc = pair.value!;
    svc.set("context", `${FIXTURES}/hello`);
    svc.set("dockerfile", "Dockerfile");
    if (svc.get("target") === "cloudrun") svc.set("grantPropagationSeconds", 2);
  }
  const promoteFrom = doc.getIn(["config", "multicloud-deploy:promoteFrom"]);
  if (typeof promoteFrom === "string") {
    doc.setIn(["config", "multicloud-deploy:promoteFrom"], promoteFrom.replace(/^[^/]+\//, "organization/"));
  }
  return doc.toString();
}

/** Builds (or finds, when warm) the toolchain; returns its cache directory. */
export function toolchain(): string {
  const out = execFileSync("bash", [path.join(REPO, "tests/e2e/toolchain.sh")], {
    cwd: REPO,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.trim().split("\n").pop()!;
}

async function waitFor(what: string, check: () => boolean, child: ChildProcess, log: () => string) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${log()}`);
    if (check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not start within 30 s: ${log()}`);
}

export async function startEnvironment(): Promise<E2eEnvironment> {
  const tc = toolchain();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-e2e-"));
  const dirs = Object.fromEntries(
    ["home", "docker", "state", "buildkit", "work"].map((d) => [d, path.join(root, d)] as const),
  );
  Object.values(dirs).forEach((d) => fs.mkdirSync(d, { recursive: true }));
  const children: ChildProcess[] = [];
  let registry: LocalRegistry | undefined;
  const stop = () => {
    for (const c of children) c.kill("SIGTERM");
    registry?.stop();
    spawnSync("umount", ["-R", dirs.buildkit!], { stdio: "ignore" });
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    // Debian's distribution 2.8: BuildKit v0.31's manifest push to distribution v3.1.2 (what npm test
    // builds when it is missing) fails with "blob unknown to registry".
    if (!fs.existsSync(process.env.REGISTRY_BIN ?? SYSTEM_REGISTRY)) {
      throw new Error(
        `the e2e suite needs Debian's docker-registry at ${SYSTEM_REGISTRY}: run \`apt-get install docker-registry\` (.ci/run does)`,
      );
    }
    const authority = makeCertificateAuthority(root);
    registry = await startRegistry({ auth: "token", tls: true, ca: authority });
    const ca = authority.cert;

    // BuildKit: rootful OCI worker; every registry is HTTPS with our CA, never plain HTTP. It runs in a
    // mount namespace whose /etc/hosts resolves the cloud registry hosts to loopback (cloud-env.ts).
    const sock = path.join(root, "buildkitd.sock");
    const toml = path.join(root, "buildkitd.toml");
    fs.writeFileSync(
      toml,
      [registry.host, ...Object.keys(CLOUD_REGISTRIES)]
        .map((h) => `[registry."${h}"]\n  http = false\n  insecure = false\n  ca = ["${ca}"]\n`)
        .join(""),
    );
    const hosts = path.join(root, "buildkitd.hosts");
    fs.writeFileSync(
      hosts,
      `127.0.0.1 localhost\n${Object.entries(CLOUD_REGISTRIES)
        .map(([h, ip]) => `${ip} ${h}`)
        .join("\n")}\n`,
    );
    let bkLog = "";
    const bk = spawn(
      "unshare",
      withHosts(hosts, [
        path.join(tc, "bin/buildkitd"),
        "--config",
        toml,
        "--root",
        dirs.buildkit!,
        "--addr",
        `unix://${sock}`,
        "--oci-worker=true",
        "--containerd-worker=false",
      ]),
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(bk);
    bk.stdout?.on("data", (d) => (bkLog += d));
    bk.stderr?.on("data", (d) => (bkLog += d));
    await waitFor(
      "buildkitd",
      () =>
        spawnSync(path.join(tc, "bin/buildctl"), ["--addr", `unix://${sock}`, "debug", "workers"]).status ===
        0,
      bk,
      () => bkLog.slice(-3000),
    );

    // docker-build's embedded mode looks for a buildx builder; register buildkitd as a "remote" one.
    fs.mkdirSync(path.join(dirs.docker!, "buildx/instances"), { recursive: true });
    // The same entry the Deployments pre-run commands write for a remote builder (deployments/settings.ts).
    fs.writeFileSync(
      path.join(dirs.docker!, "buildx/instances/e2e"),
      JSON.stringify(buildxRemoteBuilder("e2e", [{ endpoint: `unix://${sock}` }])),
    );

    // Plugins: the real docker-build provider; the command stand-in (see tests/e2e/standins/command.ts).
    const plugins = path.join(dirs.home!, "plugins");
    fs.mkdirSync(plugins, { recursive: true });
    for (const entry of fs.readdirSync(path.join(tc, "plugins"))) {
      // A real directory (the CLI does not take a linked plugin directory as installed), linked binary.
      fs.mkdirSync(path.join(plugins, entry));
      for (const bin of fs.readdirSync(path.join(tc, "plugins", entry))) {
        fs.symlinkSync(path.join(tc, "plugins", entry, bin), path.join(plugins, entry, bin));
      }
    }
    // gcp and aws: stand-ins answering as the unit tests' mocks do (tests/e2e/standins/cloud.ts).
    for (const [pkg, version] of [
      ["gcp", "9.37.0"],
      ["aws", "7.48.0"],
    ]) {
      const dir = path.join(plugins, `resource-${pkg}-v${version}`);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(
        path.join(dir, `pulumi-resource-${pkg}`),
        `#!/bin/sh\nexec "${REPO}/node_modules/.bin/tsx" "${REPO}/tests/e2e/standins/cloud.ts" ${pkg} "$@"\n`,
        { mode: 0o755 },
      );
    }
    const command = path.join(plugins, "resource-command-v1.2.1");
    fs.mkdirSync(command, { recursive: true });
    fs.writeFileSync(
      path.join(command, "pulumi-resource-command"),
      `#!/bin/sh\nexec "${REPO}/node_modules/.bin/tsx" "${REPO}/tests/e2e/standins/command.ts" "$@"\n`,
      { mode: 0o755 },
    );

    // The project: tests/e2e/project's program and fixtures, with the repository's node_modules and scripts
    // (the verify step runs `node_modules/.bin/tsx scripts/verify-image.ts` from the project directory).
    const work = dirs.work!;
    linkProject(work, "tests/e2e/project", "e2e-images");

    const programDir = path.join(root, "program");
    fs.mkdirSync(programDir);
    for (const entry of [
      "index.ts",
      "program.ts",
      "components",
      "lib",
      "targets",
      "scripts",
      "node_modules",
      "tsconfig.json",
      "package.json",
    ]) {
      fs.symlinkSync(path.join(REPO, entry), path.join(programDir, entry));
    }
    fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(programDir, "Pulumi.yaml"));
    fs.cpSync(path.join(REPO, "tests/e2e/project/apps"), path.join(programDir, FIXTURES), {
      recursive: true,
    });
    for (const stack of ["staging", "prod"]) {
      const file = `Pulumi.${stack}.yaml`;
      fs.writeFileSync(
        path.join(programDir, file),
        harnessStackFile(fs.readFileSync(path.join(REPO, file), "utf8")),
      );
    }

    // The policy pack, launched the way the engine launches a binary analyzer plugin: an executable
    // with the pack's PulumiPolicy.yaml beside it, given the engine's address; it runs the pack with
    // the SDK's own run-policy-pack, from the pack's own node_modules. (A current language host would
    // launch it with RunPlugin; the one this proxy lets us build predates that.)
    const policyPack = path.join(root, "policy-pack", "multicloud-deploy");
    fs.mkdirSync(path.dirname(policyPack));
    fs.copyFileSync(
      path.join(REPO, "policy/PulumiPolicy.yaml"),
      path.join(root, "policy-pack/PulumiPolicy.yaml"),
    );
    fs.writeFileSync(
      policyPack,
      `#!/bin/sh\ncd "${REPO}/policy" && exec node node_modules/@pulumi/pulumi/cmd/run-policy-pack "$1" .\n`,
      { mode: 0o755 },
    );

    const env: Record<string, string> = {
      PATH: `${path.join(tc, "bin")}:${process.env.PATH}`,
      HOME: process.env.HOME ?? root,
      PULUMI_HOME: dirs.home!,
      PULUMI_BACKEND_URL: `file://${dirs.state}`,
      PULUMI_CONFIG_PASSPHRASE: "e2e",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
      DOCKER_CONFIG: dirs.docker!,
      // Go (docker-build) and Node (the verify step) trust the throwaway CA.
      SSL_CERT_FILE: ca,
      NODE_EXTRA_CA_CERTS: ca,
      REGISTRY_PLAIN_HTTP: "false",
      E2E_REGISTRY_USERNAME: registry.username,
      E2E_REGISTRY_PASSWORD: registry.password,
    };
    const pulumi = (args: string[], extraEnv: Record<string, string> = {}, cwd = work) =>
      sh(path.join(tc, "bin/pulumi"), [...args, "--non-interactive"], { ...env, ...extraEnv }, cwd);
    const init = await pulumi(["stack", "init", STACK]);
    if (init.code !== 0) throw new Error(`pulumi stack init failed: ${init.stderr}${init.stdout}`);
    const reg = registry;
    let rotations = 0;
    return {
      registry: reg,
      ca: authority,
      workDir: work,
      env,
      toolchain: tc,
      policyPack,
      programDir,
      pulumi,
      spawnPulumi: (args) =>
        spawn(path.join(tc, "bin/pulumi"), [...args, "--non-interactive"], {
          cwd: work,
          env,
          detached: true,
          stdio: ["ignore", "pipe", "pipe"],
        }),
      buildctl: (args) => sh(path.join(tc, "bin/buildctl"), ["--addr", `unix://${sock}`, ...args], env, work),
      rotateCredentials() {
        const password = `rotated-${++rotations}-${Date.now()}`;
        reg.addCredential(reg.username, password);
        env.E2E_REGISTRY_PASSWORD = password;
      },
      stop,
    };
  } catch (err) {
    stop();
    throw err;
  }
}
