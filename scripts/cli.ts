/**
 * What every CLI in scripts/ shares: commander parsing with the exit codes the README documents
 * (0 help, 2 usage), positive-integer options, user errors printed as one message without a stack
 * trace (exit 1), and the exit code set without cutting output short.
 */
import { InvalidArgumentError, type Command } from "commander";
import { UserError } from "../lib/errors";

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
