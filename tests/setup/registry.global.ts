/**
 * Starts a real OCI registry (Debian's `docker-registry`, CNCF distribution) on 127.0.0.1 with a temp
 * storage directory and htpasswd auth, for the verifier tests. If it cannot start, the registry tests
 * fail with the reason (they never skip); the other tests still run.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { TestProject } from "vitest/node";

export interface RegistryInfo {
  /** `127.0.0.1:<port>` */
  host?: string;
  username: string;
  password: string;
  /** Why the registry is not there, when it is not. */
  error?: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    registry: RegistryInfo;
  }
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

export default async function setup(project: TestProject) {
  const info: RegistryInfo = { username: "ci", password: `pw-${process.pid}-${Date.now()}` };
  let child: ChildProcess | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-registry-"));
  try {
    if (!fs.existsSync(REGISTRY_BIN)) {
      throw new Error(
        `${REGISTRY_BIN} not found: install Debian's docker-registry package (\`apt-get install docker-registry apache2-utils\`; .ci/run does)`,
      );
    }
    const htpasswd = execFileSync("htpasswd", ["-Bbn", info.username, info.password], { encoding: "utf8" });
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
    info.host = host;
  } catch (err) {
    info.error = err instanceof Error ? err.message : String(err);
    child?.kill();
    child = undefined;
  }
  project.provide("registry", info);
  return () => {
    child?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
