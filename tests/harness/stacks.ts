/**
 * The program's staging and prod stacks under the mocks, run once per test file: what the component
 * and program tests assert on.
 */
import { runProgram, type ProgramRun } from "../../plan/run";

export const SHA = "0123456789abcdef0123456789abcdef01234567";

let runs: Promise<{ staging: ProgramRun; prod: ProgramRun }> | undefined;

/** Staging at SHA, and prod promoting from it. */
export function stacks(): Promise<{ staging: ProgramRun; prod: ProgramRun }> {
  runs ??= (async () => {
    const staging = await runProgram({ stack: "staging", commit: SHA, overrides: { commitSha: SHA } });
    const prod = await runProgram({
      stack: "prod",
      commit: SHA,
      stackOutputs: { "acme/multicloud-deploy/staging": staging.outputs },
    });
    return { staging, prod };
  })();
  return runs;
}
