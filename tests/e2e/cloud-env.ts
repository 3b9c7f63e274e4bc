/**
 * The release suite's clouds, on loopback only: tools/fake-cloud.ts serves the Cloud Run Admin API,
 * Google's OAuth token endpoint, the services' own `*.run.app` URLs and the Lambda API over TLS on
 * 127.0.0.1:443, under their real host names. Only the suite's Pulumi processes resolve those names,
 * to 127.0.0.1: each CLI call runs in a mount namespace of its own (`unshare --mount`) with a private
 * /etc/hosts bind-mounted over the real one, and trusts a throwaway certificate for those names. So the
 * release step's real clients (google-auth-library's `authorized_user` refresh and request, the AWS
 * SDK's Lambda client) make their real calls, and no packet leaves the machine.
 *
 * The endpoints they call are the libraries' defaults, not overrides: google-auth-library refreshes
 * `authorized_user` credentials at `https://oauth2.googleapis.com/token` (its `token_uri` is not read,
 * refreshclient.ts), the release step calls `https://run.googleapis.com/v2/…`, and the AWS SDK derives
 * `https://lambda.<region>.amazonaws.com` from the region (no AWS_ENDPOINT_URL_* is set).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FakeCloud } from "../../tools/fake-cloud";
import { selfSigned } from "../../tools/local-registry";
import { linkProject, sh, type CliResult, type E2eEnvironment } from "./env";

/** The identity the stand-ins report for the release stack (plan/standins.ts MockEnvironment). */
export const IDENTITY = {
  awsAccountId: "111111111111",
  awsPartition: "aws",
  awsRegion: "us-east-1",
  gcpProject: "acme-e2e",
  gcpRegion: "us-central1",
  gcpProjectNumber: "123456789012",
  stackOutputs: {},
};

/** `api` → `api-123456789012.us-central1.run.app`, the URL the gcp stand-in gives the service. */
const runAppHost = (service: string) =>
  `${service.split("/").pop()}-${IDENTITY.gcpProjectNumber}.${service.split("/")[3]}.run.app`;

export interface CloudEnvironment {
  cloud: FakeCloud;
  dir: string;
  pulumi(args: string[], extraEnv?: Record<string, string>): Promise<CliResult>;
  /** The CLI in its own process group (and namespace), to be killed mid-update. */
  spawnPulumi(args: string[]): ChildProcess;
  stop(): Promise<void>;
}

export async function startCloud(e: E2eEnvironment, services: string[]): Promise<CloudEnvironment> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-cloud-"));
  const f = (name: string) => path.join(root, name);
  const hostNames = [
    "run.googleapis.com",
    "oauth2.googleapis.com",
    "lambda.us-east-1.amazonaws.com",
    ...services.flatMap((s) => [runAppHost(s), `next---${runAppHost(s)}`]),
  ];
  selfSigned(f("cloud.key"), f("cloud.crt"), "/CN=multicloud-deploy fake cloud", hostNames);
  // One bundle: the registry's CA (docker-build, verify-image) and the fake cloud's certificate.
  fs.writeFileSync(
    f("ca-bundle.pem"),
    fs.readFileSync(e.env.NODE_EXTRA_CA_CERTS!, "utf8") + fs.readFileSync(f("cloud.crt"), "utf8"),
  );
  fs.writeFileSync(
    f("hosts"),
    `127.0.0.1 localhost\n::1 localhost\n${hostNames.map((h) => `127.0.0.1 ${h}`).join("\n")}\n`,
  );
  fs.writeFileSync(
    f("adc.json"),
    JSON.stringify({
      type: "authorized_user",
      client_id: "e2e.apps.googleusercontent.com",
      client_secret: "e2e",
      refresh_token: "e2e-refresh-token",
    }),
  );

  const cloud = await new FakeCloud({ runAppHost }).start();
  await cloud.startTls({
    cert: fs.readFileSync(f("cloud.crt"), "utf8"),
    key: fs.readFileSync(f("cloud.key"), "utf8"),
    port: 443,
  });

  // The project: tests/e2e/release's program, the image fixtures, the repository's modules and scripts.
  const dir = f("project");
  fs.mkdirSync(dir);
  linkProject(dir, "tests/e2e/release", "e2e-release");

  const env: Record<string, string> = {
    ...e.env,
    SSL_CERT_FILE: f("ca-bundle.pem"),
    NODE_EXTRA_CA_CERTS: f("ca-bundle.pem"),
    E2E_FAKE_CLOUD: cloud.url,
    E2E_STANDIN_ENVIRONMENT: JSON.stringify(IDENTITY),
    GOOGLE_APPLICATION_CREDENTIALS: f("adc.json"),
    METADATA_SERVER_DETECTION: "none",
    AWS_ACCESS_KEY_ID: "AKIDE2ERELEASE",
    AWS_SECRET_ACCESS_KEY: "e2e-release",
    AWS_EC2_METADATA_DISABLED: "true",
  };
  const pulumiBin = path.join(e.toolchain, "bin/pulumi");
  // A private mount namespace whose /etc/hosts is ours; the CLI and every plugin and command it starts
  // inherit it. The rest of the machine keeps its own.
  const namespaced = (args: string[]) => [
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount --bind "$0" /etc/hosts && exec "$@"',
    f("hosts"),
    pulumiBin,
    ...args,
    "--non-interactive",
  ];
  const pulumi = (args: string[], extraEnv: Record<string, string> = {}) =>
    sh("unshare", namespaced(args), { ...env, ...extraEnv }, dir);
  const init = await pulumi(["stack", "init", "release"]);
  if (init.code !== 0) throw new Error(`pulumi stack init failed: ${init.stderr}${init.stdout}`);
  return {
    cloud,
    dir,
    pulumi,
    spawnPulumi: (args) =>
      spawn("unshare", namespaced(args), {
        cwd: dir,
        env,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      }),
    async stop() {
      await cloud.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
