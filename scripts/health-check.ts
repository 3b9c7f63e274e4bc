/**
 * health-check: the deploy's health gate.
 *
 *   npm run health-check -- <url> [--expect healthy] [--attempts 10] [--delay-ms 3000]
 *
 * A bearer token for private services is read from HEALTH_CHECK_TOKEN. Exit 0 when healthy, 1 when not.
 */
import { Command } from "commander";
import { waitForHealthy } from "../lib/health";
import { parseOrExit, positiveInt, run } from "./cli";

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("health-check")
    .argument("<url>", "health endpoint URL")
    .option("--expect <body>", "the body the endpoint must answer with")
    .option("--attempts <n>", "how many times to ask", positiveInt, 10)
    .option("--delay-ms <ms>", "delay before the second attempt (grows linearly)", positiveInt, 3000);
  const stop = parseOrExit(program, argv);
  if (stop !== undefined) return stop;
  const [url] = program.args;
  const o = program.opts<{ expect?: string; attempts: number; delayMs: number }>();
  const result = await waitForHealthy({
    url,
    expectBody: o.expect,
    attempts: o.attempts,
    delayMs: o.delayMs,
    bearerToken: process.env.HEALTH_CHECK_TOKEN || undefined,
  });
  if (result.healthy) {
    console.log(`healthy: ${url} answered ${result.last} on attempt ${result.attempts}`);
    return 0;
  }
  console.error(
    `health-check: ${url} did not answer healthy after ${result.attempts} attempts (last: ${result.last}); ` +
      "the new revision is deployed but unhealthy: check its logs, then roll back (docs/operations.md: Rollback)",
  );
  return 1;
}

run("health-check", () => main(process.argv));
