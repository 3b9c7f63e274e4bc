/**
 * scan-gate: waits, to a deadline, for the registry's vulnerability scan of one digest, then judges
 * it against the stack's thresholds and allow-list (lib/scan/gate.ts, docs/scanning.md). ECR images
 * are read through `DescribeImageScanFindings`, Artifact Registry images through Container Analysis;
 * both with the deployer's ambient identity (the AWS SDK's default chain, Application Default
 * Credentials).
 *
 *   npm run scan-gate -- <repo>@sha256:<hex> --max-critical 0 [--max-high 5] [--max-medium N]
 *     --deadline-seconds 900 [--allow CVE-…:YYYY-MM-DD …] [--allow-unscanned]
 *
 * Exit 0: passed (stdout: the verdict as JSON, kept in the Command's outputs); exit 1: refused (the
 * message names the digest, the check and what it saw); exit 2: usage.
 */
import { Command } from "commander";
import { UserError } from "../lib/errors";
import { parseImageRef } from "../lib/image-ref";
import { realClock } from "../lib/release/retry";
import { judgeScan, waitForScan } from "../lib/scan/gate";
import { scanReader } from "../lib/scan/read";
import { decodeScanArgs, scannerOf } from "../lib/scan/step";
import { parseOrExit, run } from "./cli";

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("scan-gate")
    .description("Wait for the registry's vulnerability scan of a digest and judge it against thresholds.")
    .argument("<ref>", "registry/repository@sha256:<digest>")
    .requiredOption("--max-critical <n>", "critical findings tolerated")
    .option("--max-high <n>", "high findings tolerated (unset: not gated)")
    .option("--max-medium <n>", "medium findings tolerated (unset: not gated)")
    .requiredOption("--deadline-seconds <n>", "how long to wait for the scan")
    .option("--allow <id:YYYY-MM-DD...>", "accept this vulnerability id until that day (UTC), repeatable")
    .option("--allow-unscanned", "pass when the scan is missing, failed or unsupported at the deadline");
  const stop = parseOrExit(program, argv);
  if (stop !== undefined) return stop;
  const step = decodeScanArgs(argv.slice(2));
  if ("problem" in step) throw new UserError(`scan-gate: ${step.problem}`, []);
  const image = parseImageRef(step.ref);
  const digest = image.digest!;
  const by = scannerOf(`${image.registry}/${image.repository}`);
  if ("problem" in by) throw new UserError(`scan-gate: ${by.problem}`, []);
  const state = await waitForScan(await scanReader(by, digest), {
    clock: realClock,
    deadlineMs: step.gate.deadlineSeconds * 1000,
    log: (line) => console.error(line),
  });
  const verdict = judgeScan(state, step.gate, new Date());
  if (!verdict.ok)
    throw new UserError(`${step.ref}: refused by the scan gate ("${verdict.code}" check)`, [
      verdict.detail,
      "to let an image through on purpose, add the finding to multicloud-deploy:scanGate.allow with an expiry (docs/scanning.md)",
    ]);
  if (verdict.code === "scan.passed-unscanned") console.error(`warning: ${verdict.detail}`);
  for (const e of verdict.expired) console.error(`warning: allow-list entry ${e.id} expired on ${e.expires}`);
  console.log(JSON.stringify({ ref: step.ref, code: verdict.code, detail: verdict.detail }));
  return 0;
}

run("scan-gate", () => main(process.argv));
