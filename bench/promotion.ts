/**
 * Promotion copies as a user runs them: the `promote-image` CLI, each in its own process, between two
 * real registries on loopback.
 *
 * - The soak (issue 25): copies in every auth mode (none, Basic, token) over plain HTTP and TLS, a few
 *   at once, each into a new repository. Zero failures is the figure.
 * - Beside skopeo (`skopeo copy --preserve-digests`, Debian's), the tool teams pick for this: the same
 *   image between the same registries in one run, as ratios of time and peak RSS; then a second copy
 *   into another repository of the same destination registry, where skopeo mounts the blobs it
 *   remembers (its blob-info cache) instead of sending them again.
 *
 * Peak RSS of a child is its `ru_maxrss` (getrusage RUSAGE_CHILDREN), read by a Python wrapper so it
 * covers the process tree tsx starts.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pushImage } from "../tools/image-fixtures";
import { startRegistry, type LocalRegistry } from "../tools/local-registry";

const REPO = path.resolve(__dirname, "..");
const MiB = 1024 * 1024;

interface Run {
  code: number;
  ms: number;
  peakRssMiB: number;
  out: string;
}

/** Runs a command, returning its exit code, wall time and the peak RSS of its process tree. */
function measured(cmd: string[], env: Record<string, string | undefined>): Promise<Run> {
  const wrapper =
    "import resource, subprocess, sys, time\n" +
    "t = time.monotonic(); r = subprocess.run(sys.argv[1:]); ms = (time.monotonic() - t) * 1000\n" +
    "sys.stderr.write('\\n@@ %d %.1f %d\\n' % (r.returncode, ms, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n";
  return new Promise((resolve, reject) => {
    const child = spawn("python3", ["-c", wrapper, ...cmd], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", () => {
      const m = /@@ (-?\d+) ([\d.]+) (\d+)\s*$/.exec(out);
      if (!m) return reject(new Error(`no measurement: ${out.slice(-2000)}`));
      resolve({
        code: Number(m[1]),
        ms: Number(m[2]),
        peakRssMiB: Number(m[3]) / 1024,
        out: out.slice(0, m.index),
      });
    });
  });
}

/** skopeo, installed with apt when it is missing and this runs as root; else the command to run. */
export function ensureSkopeo(): void {
  try {
    execFileSync("skopeo", ["--version"], { stdio: "ignore" });
    return;
  } catch {
    if (process.getuid?.() !== 0) throw new Error("skopeo not found: run `apt-get install skopeo` as root");
  }
  execFileSync("apt-get", ["update", "-qq"], { stdio: "ignore" });
  execFileSync("apt-get", ["install", "-y", "-qq", "skopeo"], {
    stdio: "ignore",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

const promoteCli = [path.join(REPO, "node_modules/.bin/tsx"), path.join(REPO, "scripts/promote-image.ts")];

function credentialsEnv(
  src: LocalRegistry,
  dst: LocalRegistry,
  ca?: string,
): Record<string, string | undefined> {
  return {
    ...process.env,
    ...(src.auth === "none"
      ? {}
      : { SOURCE_REGISTRY_USERNAME: src.username, SOURCE_REGISTRY_PASSWORD: src.password }),
    ...(dst.auth === "none" ? {} : { REGISTRY_USERNAME: dst.username, REGISTRY_PASSWORD: dst.password }),
    ...(ca ? { NODE_EXTRA_CA_CERTS: ca, REGISTRY_PLAIN_HTTP: "false" } : { REGISTRY_PLAIN_HTTP: "true" }),
  };
}

/** A plain-HTTP registry holding a single-layer image of `layerMiB`: what every pair starts from. */
async function seed(layerMiB: number) {
  const registry = await startRegistry("htpasswd");
  const layer = Buffer.alloc(layerMiB * MiB);
  for (let i = 0; i < layer.length; i += 4096) layer.writeUInt32BE((i * 2654435761) >>> 0, i);
  const { digest } = await pushImage(registry, "src/app", { architecture: "amd64", layers: [layer] });
  return { registry, digest };
}

/**
 * Two registries of one mode, the seed's image in the first. It is put there as storage (the
 * filesystem driver's layout, which distribution reads as it is), so any auth and TLS take it.
 */
async function pair(auth: LocalRegistry["auth"], tls: boolean, from: Awaited<ReturnType<typeof seed>>) {
  const src = await startRegistry({ auth, tls });
  const dst = await startRegistry({ auth, tls });
  fs.cpSync(from.registry.dataDir, src.dataDir, { recursive: true });
  return { src, dst, digest: from.digest };
}

export async function promotionSoak(options: { copies: number; concurrency: number; layerMiB: number }) {
  const rows: Array<{ mode: string; copies: number; failed: number; medianMs: number; failures: string[] }> =
    [];
  const from = await seed(options.layerMiB);
  for (const tls of [false, true]) {
    for (const auth of ["none", "htpasswd", "token"] as const) {
      const { src, dst, digest } = await pair(auth, tls, from);
      const ca = tls ? combinedCa([src, dst]) : undefined;
      const env = credentialsEnv(src, dst, ca);
      const times: number[] = [];
      const failures: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < options.copies) {
          const i = next++;
          const r = await measured(
            [...promoteCli, `${src.host}/src/app@${digest}`, `${dst.host}/soak-${i}/app`],
            env,
          );
          times.push(r.ms);
          if (r.code !== 0) failures.push(r.out.trim().split("\n").pop() ?? `exit ${r.code}`);
        }
      };
      await Promise.all(Array.from({ length: options.concurrency }, worker));
      src.stop();
      dst.stop();
      times.sort((a, b) => a - b);
      rows.push({
        mode: `${auth}${tls ? " TLS" : ""}`,
        copies: options.copies,
        failed: failures.length,
        medianMs: Math.round(times[Math.floor(times.length / 2)]!),
        failures: failures.slice(0, 3),
      });
    }
  }
  from.registry.stop();
  return { ...options, rows, totalFailed: rows.reduce((n, r) => n + r.failed, 0) };
}

/** A CA bundle holding both registries' throwaway CAs (the CLI trusts one file). */
function combinedCa(registries: LocalRegistry[]): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mcd-ca-")), "ca.pem");
  fs.writeFileSync(file, registries.map((r) => fs.readFileSync(r.caCertPath!, "utf8")).join(""));
  return file;
}

export async function skopeoComparison(layerMiB: number) {
  ensureSkopeo();
  const from = await seed(layerMiB);
  const { src, dst, digest } = await pair("htpasswd", false, from);
  from.registry.stop();
  const env = credentialsEnv(src, dst);
  const skopeo = (dest: string) => [
    "skopeo",
    "copy",
    "--preserve-digests",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    `--src-creds=${src.username}:${src.password}`,
    `--dest-creds=${dst.username}:${dst.password}`,
    `docker://${src.host}/src/app@${digest}`,
    `docker://${dst.host}/${dest}:copy`,
  ];
  // A cold blob-location cache for promote-image too (lib/registry/blob-cache.ts).
  const oursEnv = { ...env, XDG_CACHE_HOME: fs.mkdtempSync(path.join(os.tmpdir(), "mcd-blobs-")) };
  // A cold blob-info cache for skopeo, as on a fresh runner.
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-skopeo-"));
  const skopeoEnv = { ...env, XDG_DATA_HOME: cacheDir, HOME: cacheDir };
  const run = async (cmd: string[], runEnv: Record<string, string | undefined> = oursEnv) => {
    const r = await measured(cmd, runEnv);
    if (r.code !== 0) throw new Error(`${cmd[0]} failed: ${r.out.slice(-2000)}`);
    return { ms: Math.round(r.ms), peakRssMiB: Number(r.peakRssMiB.toFixed(1)) };
  };
  const runSkopeo = (dest: string) => run(skopeo(dest), skopeoEnv);
  const ours = await run([...promoteCli, `${src.host}/src/app@${digest}`, `${dst.host}/ours/app`]);
  const theirs = await runSkopeo("theirs/app");
  // The second copy into another repository of the same destination registry.
  const oursAgain = await run([...promoteCli, `${src.host}/src/app@${digest}`, `${dst.host}/ours-2/app`]);
  const theirsAgain = await runSkopeo("theirs-2/app");
  // Node's own floor: the same CLI, loading all it loads, copying nothing.
  const baseline = await run([...promoteCli, "--help"]);
  src.stop();
  dst.stop();
  return {
    layerMiB,
    promoteImage: ours,
    skopeo: theirs,
    timeRatio: Number((ours.ms / theirs.ms).toFixed(2)),
    rssRatio: Number((ours.peakRssMiB / theirs.peakRssMiB).toFixed(2)),
    /** `promote-image --help`: Node, tsx and the CLI's modules, nothing run. */
    nodeBaselineRssMiB: baseline.peakRssMiB,
    /** What the copy adds over loading Node and the modules. */
    promoteImageOwnRssMiB: Number((ours.peakRssMiB - baseline.peakRssMiB).toFixed(1)),
    /** What the transfer adds over the second copy, which runs the same requests but mounts every blob. */
    transferRssMiB: Number((ours.peakRssMiB - oursAgain.peakRssMiB).toFixed(1)),
    secondCopy: { promoteImage: oursAgain, skopeo: theirsAgain },
    targets: { timeRatio: 1.0 },
  };
}
