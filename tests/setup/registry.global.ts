/**
 * vitest global setup: starts the real registry for the registry tests (tests/setup/local-registry.ts).
 * If it cannot start, those tests fail with the reason (they never skip); the other tests still run.
 */
import type { TestProject } from "vitest/node";
import { startRegistry } from "./local-registry";

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

export default async function setup(project: TestProject) {
  try {
    const registry = await startRegistry();
    project.provide("registry", {
      host: registry.host,
      username: registry.username,
      password: registry.password,
    });
    return () => registry.stop();
  } catch (err) {
    project.provide("registry", {
      username: "",
      password: "",
      error: err instanceof Error ? err.message : String(err),
    });
    return () => undefined;
  }
}
