/**
 * Safe release, one file per concern (docs/safe-release.md):
 * - traffic.ts: shares, splits, rollouts, where a failure returns traffic (pure);
 * - run.ts: the release itself, its one cleanup path and its ownership rules;
 * - target.ts: the read/route contract a cloud implements, conditional on the version it read;
 * - cloud-run.ts, lambda.ts: the two clouds;
 * - checks.ts: what a candidate must pass at each stage;
 * - analysis.ts: judging a rollout step by the candidate's own traffic (metrics-*.ts read it);
 * - retry.ts, transient.ts: the injected clock and retry policy, and which errors are retried;
 * - ownership.ts: whether the update that started a step still runs;
 * - step.ts: the step's command line, encoded and decoded in one place.
 */
export * from "./analysis";
export * from "./checks";
export * from "./run";
export * from "./step";
export * from "./target";
export * from "./traffic";
