/**
 * Starts a real OCI registry (Debian's `docker-registry`, CNCF distribution) on 127.0.0.1 with a temp
 * storage directory and htpasswd auth. Used by the test setup and the benchmarks.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface LocalRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  username: string;
  password: string;
  stop(): void;
}

const REGISTRY_BIN = process.env.REGISTRY_BIN ?? "/usr/bin/docker-registry";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

async function waitForRegistry(host: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${log()}`);
    try {
      const res = await fetch(`http://${host}/v2/`);
      if (res.status === 401 || res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer on ${host} within 15 s: ${log()}`);
}

/** Starts the registry or throws why it cannot. */
export async function startRegistry(): Promise<LocalRegistry> {
  const username = "ci";
  const password = `pw-${process.pid}-${Date.now()}`;
  let child: ChildProcess | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-registry-"));
  const cleanup = () => {
    child?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (!fs.existsSync(REGISTRY_BIN)) {
      throw new Error(
        `${REGISTRY_BIN} not found: install Debian's docker-registry package (\`apt-get install docker-registry apache2-utils\`; .ci/run does)`,
      );
    }
    const htpasswd = execFileSync("htpasswd", ["-Bbn", username, password], { encoding: "utf8" });
    fs.writeFileSync(path.join(dir, "htpasswd"), htpasswd);
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    fs.writeFileSync(
      path.join(dir, "config.yml"),
      [
        "version: 0.1",
        "log:",
        "  level: warn",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${path.join(dir, "data")}`,
        "  delete:",
        "    enabled: true",
        "http:",
        `  addr: ${host}`,
        "auth:",
        "  htpasswd:",
        "    realm: test-registry",
        `    path: ${path.join(dir, "htpasswd")}`,
        "",
      ].join("\n"),
    );
    let output = "";
    child = spawn(REGISTRY_BIN, ["serve", path.join(dir, "config.yml")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    await waitForRegistry(host, child, () => output.slice(-2000));
    return { host, username, password, stop: cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
