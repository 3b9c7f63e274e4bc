/**
 * What every CLI in scripts/ shares: commander parsing with the usual exit codes (0 help, 2 usage), positive-integer options, user errors printed as one message without a stack
 * trace (exit 1), and the exit code set without cutting output short.
 */
import { InvalidArgumentError, type Command } from "commander";
import { UserError } from "../lib/errors";
import type { Credentials } from "../lib/registry/client";
import { ambientTokenSources } from "../lib/registry/ambient";
import { parseLogin, resolveCredentials, type RegistryLogin } from "../lib/registry/login";

/** Parses argv; returns an exit code when the CLI should stop here (help: 0, usage error: 2). */
export function parseOrExit(program: Command, argv: string[]): number | undefined {
  program.exitOverride();
  try {
    program.parse(argv);
    return undefined;
  } catch (err) {
    return (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
}

/** A commander option parser for whole numbers ≥ 1. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a whole number, 1 or more");
  return n;
}

/**
 * Runs a CLI's main: a user error prints `<name>: <message>` and exits 1; anything else is a bug and
 * prints its stack.
 */
export function run(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (UserError.is(err)) console.error(`${name}: ${err.message}`);
      else console.error(err);
      process.exitCode = 1;
    },
  );
}

/**
 * The registry credentials and transport a step uses, from its environment: the login description
 * `<prefix>REGISTRY_LOGIN` (see lib/registry/login.ts; tokens are obtained now, from the deployer's
 * ambient identity), or, for a person running the CLI by hand, `<prefix>REGISTRY_USERNAME` /
 * `<prefix>REGISTRY_PASSWORD`. `REGISTRY_PLAIN_HTTP=true|false` overrides the transport (default:
 * plain HTTP for loopback registries only).
 */
export async function registryAccess(
  env: Record<string, string | undefined>,
  prefix: "" | "SOURCE_" = "",
): Promise<{ credentials?: Credentials; plainHttp?: boolean }> {
  const variable = `${prefix}REGISTRY_LOGIN`;
  const text = env[variable];
  const login: RegistryLogin = text
    ? parseLogin(text, variable)
    : env[`${prefix}REGISTRY_USERNAME`]
      ? { kind: "env", usernameVar: `${prefix}REGISTRY_USERNAME`, passwordVar: `${prefix}REGISTRY_PASSWORD` }
      : { kind: "none" };
  const plain = env.REGISTRY_PLAIN_HTTP;
  return {
    credentials: await resolveCredentials(login, env, ambientTokenSources),
    plainHttp: plain === undefined ? undefined : plain === "true",
  };
}
