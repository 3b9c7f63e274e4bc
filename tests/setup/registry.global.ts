/**
 * vitest global setup: starts the real registry for the registry tests (tools/local-registry.ts).
 * If it cannot start, those tests fail with the reason (they never skip); the other tests still run.
 */
import type { TestProject } from "vitest/node";
import { startRegistry } from "../../tools/local-registry";
import { registryBinary } from "../../tools/registry-binary";

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
    /** Basic (htpasswd) auth. */
    registry: RegistryInfo;
    /** Token auth: `401 Bearer realm=…`, then a JWT from the token server, as Artifact Registry does. */
    tokenRegistry: RegistryInfo;
  }
}

async function start(project: TestProject, key: "registry" | "tokenRegistry", auth: "htpasswd" | "token") {
  try {
    const registry = await startRegistry(auth);
    project.provide(key, { host: registry.host, username: registry.username, password: registry.password });
    return () => registry.stop();
  } catch (err) {
    project.provide(key, {
      username: "",
      password: "",
      error: err instanceof Error ? err.message : String(err),
    });
    return () => undefined;
  }
}

export default async function setup(project: TestProject) {
  try {
    // Debian's docker-registry, or distribution built from Go modules once (tools/registry-binary.ts).
    registryBinary(process.env, (line) => console.log(`registry set-up: ${line}`));
  } catch {
    // startRegistry below reports the same reason to every registry test, which then fails.
  }
  const stops = [
    await start(project, "registry", "htpasswd"),
    await start(project, "tokenRegistry", "token"),
  ];
  return () => stops.forEach((stop) => stop());
}
