/**
 * health-check: the deploy's health gate.
 *
 *   npm run health-check -- <url> [--expect healthy] [--attempts 10] [--delay-ms 3000]
 *
 * A bearer token for private services is read from HEALTH_CHECK_TOKEN. Exit 0 when healthy, 1 when not.
 */
import { Command, InvalidArgumentError } from "commander";
import { waitForHealthy } from "../lib/health";

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a whole number, 1 or more");
  return n;
};

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("health-check")
    .argument("<url>", "health endpoint URL")
    .option("--expect <body>", "the body the endpoint must answer with")
    .option("--attempts <n>", "how many times to ask", positiveInt, 10)
    .option("--delay-ms <ms>", "delay before the second attempt (grows linearly)", positiveInt, 3000)
    .exitOverride();
  try {
    program.parse(argv);
  } catch (err) {
    return (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
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
      "the new revision is deployed but unhealthy: check its logs, then roll back (README: Rollback)",
  );
  return 1;
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
