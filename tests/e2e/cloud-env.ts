/**
 * The clouds, on loopback only, for the suites that deploy: tools/fake-cloud/ serves the Cloud Run
 * Admin API, Google's OAuth token endpoint, ECR's GetAuthorizationToken, the services' own `*.run.app`
 * URLs, the Lambda API, both KMS APIs, both scanners (ECR's DescribeImageScanFindings, Container
 * Analysis) and both metric APIs (Cloud Monitoring, CloudWatch) over TLS on 127.0.0.1:443; with `registries`, Debian's docker-registry
 * serves each cloud registry host the program uses (`us-central1-docker.pkg.dev`,
 * `<account>.dkr.ecr.us-east-1.amazonaws.com`, env.ts CLOUD_REGISTRIES) on an address of its own,
 * 127.0.0.x:443. All under their real host names, which only the suite's processes resolve: each CLI
 * call runs in a mount namespace of its own (`unshare --mount`) with a private /etc/hosts
 * bind-mounted over the real one (BuildKit runs in one too, env.ts), and trusts the suite's CA, which
 * signed every certificate here. No packet leaves the machine. Each registry sends its push
 * notifications to the fake cloud, whose scanners scan on push what was pushed (fake-cloud/scans.ts).
 *
 * Every client uses its library's default endpoint, so nothing in any stack file or program differs
 * from a user's; the seam is the host names, and it lives here. What the libraries would honour
 * instead, read in their source, and why none of it is used:
 * - google-auth-library (11.3.4): `authorized_user` credentials (what `gcloud auth
 *   application-default login` writes, used here) always refresh at
 *   `https://oauth2.googleapis.com/token`: the file's `token_uri` is not read (refreshclient.ts
 *   `fromJSON` takes client id and secret, refresh token, quota project and universe domain only;
 *   oauth2client.ts defaults `oauth2TokenUrl` to that host). `external_account`
 *   credentials (workload identity federation, what Pulumi Deployments' OIDC gives) do honour their
 *   `token_url`, but would need a subject-token source as well. Cloud Run's API is always
 *   `https://run.googleapis.com` (scripts/release.ts builds the URL).
 * - The AWS SDK v3 honours `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` (e.g.
 *   `AWS_ENDPOINT_URL_ECR`, `_LAMBDA`) from the environment (`@smithy/core` endpoints `getEndpointFromConfig`, service id upper-cased). Set in a deployer's environment by mistake,
 *   that would send a real deploy elsewhere, so the suite sets none: the SDK derives
 *   `https://api.ecr.<region>.amazonaws.com`, `https://lambda.<region>.amazonaws.com` and
 *   `https://monitoring.<region>.amazonaws.com`.
 *
 * Each stack deploys as its own identity, as in production: its own ADC file (a refresh token named
 * by its deployer service account) and AWS access key (the fake cloud maps it to the stack's account).
 * The registries give each identity what IAM would: its own project's or account's repositories in
 * full, and pull on another's only where that stack lists it in `imageConsumers` (Pulumi.staging.yaml
 * grants prod's deployer).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import type { MockEnvironment } from "../../plan/standins";
import { parseCloudRunService } from "../../lib/names";
import { FakeCloud } from "../../tools/fake-cloud";
import { makeCertificate, startRegistry, type LocalRegistry } from "../../tools/local-registry";
import { CLOUD_REGISTRIES, sh, withHosts, type CliResult, type E2eEnvironment } from "./env";

/** One stack's deployment identity: what the stand-ins report, and the credentials it deploys with. */
export interface StackIdentity extends MockEnvironment {
  /** The Google member the stack's deployer is, `serviceAccount:deployer@<project>.iam.gserviceaccount.com`. */
  gcpDeployer: string;
  /** The access key id of the stack's AWS credentials (the fake cloud maps it to `awsAccountId`). */
  awsAccessKeyId: string;
}

export function stackIdentity(
  gcpProject: string,
  gcpProjectNumber: string,
  awsAccountId: string,
): StackIdentity {
  return {
    awsAccountId,
    awsPartition: "aws",
    awsRegion: "us-east-1",
    gcpProject,
    gcpRegion: "us-central1",
    gcpProjectNumber,
    stackOutputs: {},
    gcpDeployer: `serviceAccount:deployer@${gcpProject}.iam.gserviceaccount.com`,
    awsAccessKeyId: `AKIAE2E${awsAccountId}`,
  };
}

export interface CloudOptions {
  /** The Pulumi project directory the CLI runs in. */
  dir: string;
  /** The stacks, by name; the first is the default of `pulumi()`. Each is initialised here. */
  stacks: Record<string, StackIdentity>;
  /** Cloud Run service names (the last part of `projects/…/services/<name>`) whose URLs resolve. */
  services: string[];
  /** Serve CLOUD_REGISTRIES, with each stack file's `imageConsumers` as the readers. @default false */
  registries?: boolean;
}

export interface CloudEnvironment {
  cloud: FakeCloud;
  /** The cloud registries by host name (with `registries`). */
  registries: Map<string, LocalRegistry>;
  /** The CLI, in `stack`'s namespace and environment (its identity, the stand-ins' account and project). */
  pulumi(args: string[], extraEnv?: Record<string, string>, stack?: string): Promise<CliResult>;
  /** A bash script in `stack`'s namespace and environment, the toolchain's `pulumi` on its PATH. */
  bash(script: string, stack: string, extraEnv?: Record<string, string>): Promise<CliResult>;
  /**
   * The CLI in its own process group and mount namespace, to be killed mid-update. With `pidNamespace`
   * (the default) also in a PID namespace of its own, whose death is a runner dying: everything it
   * started dies with it. Without, `child.pid` is the CLI itself, whose `kill -9` leaves its plugins
   * and the steps they run alive, as a terminal closing on `pulumi up` does.
   */
  spawnPulumi(args: string[], stack?: string, o?: { pidNamespace?: boolean }): ChildProcess;
  stop(): Promise<void>;
}

/** How late the stand-ins publish each request's metrics in the suites (real clouds: up to 180 s). */
export const E2E_METRIC_DELAY_MS = 2000;

/** `projects/<p>/locations/<r>/services/<s>` → `<s>-<project number>.<r>.run.app`, as Cloud Run names it. */
function runAppHostFor(stacks: StackIdentity[]) {
  return (service: string) => {
    const { project, location, service: name } = parseCloudRunService(service)!;
    const number = stacks.find((s) => s.gcpProject === project)?.gcpProjectNumber ?? "0";
    return `${name}-${number}.${location}.run.app`;
  };
}

/** Who may do what on a cloud registry: its owner everything, a listed consumer pull. */
function registryAuthority(
  host: string,
  cloud: FakeCloud,
  stacks: StackIdentity[],
  consumers: { gcpMembers: string[]; awsAccounts: string[] }[],
) {
  const ecrAccount = /^(\d{12})\.dkr\.ecr\./.exec(host)?.[1];
  return {
    subject: (username: string, password: string) =>
      ecrAccount
        ? username === "AWS"
          ? cloud.ecrAccount(password)
          : undefined
        : username === "oauth2accesstoken"
          ? cloud.googlePrincipal(password)
          : undefined,
    allowed(subject: string, repository: string, actions: string[]) {
      // ECR: the registry is the account's; Artifact Registry: the repository's first segment is the project.
      const owner = ecrAccount
        ? stacks.find((s) => s.awsAccountId === ecrAccount)
        : stacks.find((s) => s.gcpProject === repository.split("/")[0]);
      if (!owner) return [];
      if ((ecrAccount ? owner.awsAccountId : owner.gcpDeployer) === subject) return actions;
      const index = stacks.indexOf(owner);
      const reads = ecrAccount
        ? consumers[index]!.awsAccounts.includes(subject)
        : consumers[index]!.gcpMembers.includes(subject);
      return reads ? actions.filter((a) => a === "pull") : [];
    },
  };
}

export async function startCloud(e: E2eEnvironment, options: CloudOptions): Promise<CloudEnvironment> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-cloud-"));
  const f = (name: string) => path.join(root, name);
  const stackNames = Object.keys(options.stacks);
  const identities = Object.values(options.stacks);
  const runAppHost = runAppHostFor(identities);
  const serviceHosts = identities.flatMap((s) =>
    options.services.map((name) =>
      runAppHost(`projects/${s.gcpProject}/locations/${s.gcpRegion}/services/${name}`),
    ),
  );
  const cloudHosts = [
    "run.googleapis.com",
    "oauth2.googleapis.com",
    "lambda.us-east-1.amazonaws.com",
    "api.ecr.us-east-1.amazonaws.com",
    "cloudkms.googleapis.com",
    "kms.us-east-1.amazonaws.com",
    "containeranalysis.googleapis.com",
    "binaryauthorization.googleapis.com",
    "monitoring.googleapis.com",
    "monitoring.us-east-1.amazonaws.com",
    ...serviceHosts.flatMap((h) => [h, `next---${h}`]),
  ];
  const cert = makeCertificate(root, e.ca, "127.0.0.1", cloudHosts, "cloud");
  fs.writeFileSync(
    f("hosts"),
    [
      "127.0.0.1 localhost",
      "::1 localhost",
      ...cloudHosts.map((h) => `127.0.0.1 ${h}`),
      ...(options.registries ? Object.entries(CLOUD_REGISTRIES).map(([h, ip]) => `${ip} ${h}`) : []),
      "",
    ].join("\n"),
  );
  for (const [stack, id] of Object.entries(options.stacks)) {
    fs.writeFileSync(
      f(`adc-${stack}.json`),
      JSON.stringify({
        type: "authorized_user",
        client_id: "e2e.apps.googleusercontent.com",
        client_secret: "e2e",
        refresh_token: id.gcpDeployer,
      }),
    );
  }

  const registries = new Map<string, LocalRegistry>();
  const cloud = await new FakeCloud({
    runAppHost,
    accounts: Object.fromEntries(identities.map((s) => [s.awsAccessKeyId, s.awsAccountId])),
    // The scanners read what each registry says was pushed (its notifications), from its storage.
    registryStorage: (host) => registries.get(host)?.dataDir,
    // Each stack's project number, as its stand-in names its Binary Authorization service agent.
    projectNumber: (project) => identities.find((s) => s.gcpProject === project)?.gcpProjectNumber ?? "",
  }).start();
  // The clouds publish metrics up to 180 s late; here, E2E_METRIC_DELAY_MS (a stack's rollout says
  // `analysis.delaySeconds` above it, as a real one sets it above its cloud's).
  cloud.metrics.publishDelayMs = E2E_METRIC_DELAY_MS;
  const stop = async () => {
    // The registries first: they hold 127.0.0.2-4:443 in other processes, which outlive a hung close.
    try {
      for (const r of registries.values()) r.stop();
      await cloud.stop();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };
  try {
    await cloud.startTls({
      cert: fs.readFileSync(cert.cert, "utf8"),
      key: fs.readFileSync(cert.key, "utf8"),
      port: 443,
    });
    if (options.registries) {
      // What each stack's IAM grants others: its stack file's imageConsumers.
      const consumers = stackNames.map((stack) => {
        const file = path.join(options.dir, `Pulumi.${stack}.yaml`);
        const c = parseYaml(fs.readFileSync(file, "utf8")).config?.["multicloud-deploy:imageConsumers"] ?? {};
        return { gcpMembers: c.gcpMembers ?? [], awsAccounts: c.awsAccounts ?? [] };
      });
      for (const [host, address] of Object.entries(CLOUD_REGISTRIES)) {
        registries.set(
          host,
          await startRegistry({
            auth: "token",
            tls: true,
            ca: e.ca,
            hostNames: [host],
            listen: { address, port: 443 },
            authority: registryAuthority(host, cloud, identities, consumers),
            notify: { url: cloud.registryEvents, host },
          }),
        );
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const envOf = (stack: string): Record<string, string> => {
    const id = options.stacks[stack];
    if (!id) throw new Error(`no stack ${stack} in this cloud (${stackNames.join(", ")})`);
    const { gcpDeployer: _g, awsAccessKeyId, ...standin } = id;
    return {
      ...e.env,
      E2E_FAKE_CLOUD: cloud.url,
      E2E_STANDIN_ENVIRONMENT: JSON.stringify(standin),
      // Where each registry host keeps its storage, for the stand-ins' repository deletes.
      E2E_REGISTRY_STORAGE: JSON.stringify(
        Object.fromEntries([...registries].map(([host, r]) => [host, r.dataDir])),
      ),
      GOOGLE_APPLICATION_CREDENTIALS: f(`adc-${stack}.json`),
      METADATA_SERVER_DETECTION: "none",
      // No profile of the machine's user (an `endpoint_url` there would be honoured): only these keys.
      AWS_CONFIG_FILE: f("aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: f("aws-credentials"),
      AWS_ACCESS_KEY_ID: awsAccessKeyId,
      AWS_SECRET_ACCESS_KEY: `e2e-${stack}`,
      AWS_EC2_METADATA_DISABLED: "true",
    };
  };
  const namespaced = (command: string[]) => withHosts(f("hosts"), command);
  const pulumiBin = path.join(e.toolchain, "bin/pulumi");
  const pulumi = (args: string[], extraEnv: Record<string, string> = {}, stack = stackNames[0]!) =>
    sh(
      "unshare",
      namespaced([pulumiBin, ...args, "--non-interactive"]),
      { ...envOf(stack), ...extraEnv },
      options.dir,
    );
  // Before anything runs: every name this suite serves resolves to loopback only inside the namespace,
  // as glibc resolves it for the CLI and the plugins (getent ahosts), or nothing starts.
  const names = [...cloudHosts, ...(options.registries ? Object.keys(CLOUD_REGISTRIES) : [])];
  const resolved = await sh(
    "unshare",
    namespaced([
      "sh",
      "-c",
      'for h in "$@"; do getent ahosts "$h" | while read -r a _; do echo "$h $a"; done; done',
      "sh",
      ...names,
    ]),
    envOf(stackNames[0]!),
    options.dir,
  );
  const lines = resolved.stdout.split("\n").filter(Boolean);
  const escapes = names.filter((h) => {
    const addresses = lines.filter((l) => l.startsWith(`${h} `)).map((l) => l.slice(h.length + 1));
    return addresses.length === 0 || addresses.some((a) => !a.startsWith("127."));
  });
  if (resolved.code !== 0 || escapes.length > 0) {
    await stop();
    throw new Error(
      `not resolved to loopback only in the suite's namespace: ${escapes.join(", ")}\n${resolved.stdout}${resolved.stderr}`,
    );
  }
  for (const stack of stackNames) {
    const init = await pulumi(["stack", "init", stack], {}, stack);
    if (init.code !== 0) {
      await stop();
      throw new Error(`pulumi stack init ${stack} failed: ${init.stderr}${init.stdout}`);
    }
  }
  return {
    cloud,
    registries,
    pulumi,
    bash: (script, stack, extraEnv = {}) =>
      sh(
        "unshare",
        namespaced(["bash", "-euo", "pipefail", "-c", script]),
        { ...envOf(stack), ...extraEnv },
        options.dir,
      ),
    // The CLI starts each plugin in its own process group (sdk/go/common/util/cmdutil
    // RegisterProcessGroup, Setpgid): a SIGKILL of the CLI alone leaves the command plugin and the
    // release step it runs alive (the release suite shows the step then stops without writing). In a
    // PID namespace, the namespace's first process dying takes all of it.
    spawnPulumi: (args, stack = stackNames[0]!, o = {}) =>
      spawn(
        "unshare",
        [
          ...(o.pidNamespace === false ? [] : ["--pid", "--fork", "--mount-proc"]),
          // unshare and the hosts wrapper exec: the child's PID is the CLI's.
          ...namespaced([pulumiBin, ...args, "--non-interactive"]),
        ],
        {
          cwd: options.dir,
          env: envOf(stack),
          detached: true,
          stdio: ["ignore", "pipe", "pipe"],
        },
      ),
    stop,
  };
}
