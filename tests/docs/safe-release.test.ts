/**
 * docs/safe-release.md's faults table states the release's retry policy, its operation polling and
 * the Lambda gate's attempts; they are the code's own values, and each test file the page names exists.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  CLOUD_RUN_OPERATION_DEADLINE_MS,
  CLOUD_RUN_POLL_MS,
  CLOUD_RUN_REQUEST_TIMEOUT_MS,
} from "../../lib/release/cloud-run";
import { LAMBDA_REQUEST_TIMEOUT_MS } from "../../lib/release/lambda";
import { DEFAULT_RETRY } from "../../lib/release/retry";
import { PROJECT_DIR } from "../../plan/run";
import { GATE_RETRY_LIMITS } from "../../lib/release/step";
import { ANALYSIS_DEFAULTS, ANALYSIS_LIMITS, stepTiming } from "../../lib/release/analysis";
import { CLOUD_RUN_DEFAULTS, LAMBDA_DEFAULTS } from "../../lib/service-defaults";

const page = fs.readFileSync(path.join(PROJECT_DIR, "docs/safe-release.md"), "utf8");
const row = (start: string) => {
  const line = page.split("\n").find((l) => l.startsWith(`| ${start}`));
  expect(line, `a row starting "${start}" in docs/safe-release.md`).toBeDefined();
  return line!;
};

describe("docs/safe-release.md", () => {
  it("states the health gate's defaults and limits per cloud, as the components apply them", () => {
    for (const key of ["attempts", "intervalSeconds", "timeoutSeconds"] as const) {
      const cells = row(`\`${key}\``)
        .split("|")
        .map((c) => c.trim());
      const [min, max] = GATE_RETRY_LIMITS[key];
      expect(cells.slice(2, 5), key).toEqual([
        String(CLOUD_RUN_DEFAULTS.healthGateRetry[key]),
        String(LAMBDA_DEFAULTS.healthGateRetry[key]),
        `${min}–${max}`,
      ]);
    }
    const r = CLOUD_RUN_DEFAULTS.healthGateRetry;
    const total = Array.from({ length: r.attempts - 1 }, (_, i) => r.intervalSeconds * (i + 1)).reduce(
      (a, b) => a + b,
    );
    expect(page).toContain(`= ${total} s in all`);
  });

  it("states the traffic analysis's defaults and limits, and how long a step takes with them", () => {
    for (const key of Object.keys(ANALYSIS_DEFAULTS) as (keyof typeof ANALYSIS_DEFAULTS)[]) {
      const cells = row(`\`${key}\``)
        .split("|")
        .map((c) => c.trim());
      const limits = key === "tooFewRequests" ? "hold, pass" : ANALYSIS_LIMITS[key].join("–");
      expect(cells.slice(2, 4), key).toEqual([String(ANALYSIS_DEFAULTS[key]), limits]);
    }
    const t = stepTiming(60, ANALYSIS_DEFAULTS);
    expect(page).toContain(
      `(60 s + ${ANALYSIS_DEFAULTS.delaySeconds} s = ${t.least / 60} minutes with the defaults)`,
    );
  });

  it("states the retry policy the release uses", () => {
    const s = (ms: number) => `${ms / 1000} s`;
    expect(row("429 or 5xx")).toContain(
      `(${s(DEFAULT_RETRY.initialMs)} doubling to ${s(DEFAULT_RETRY.maxDelayMs)}), up to ${DEFAULT_RETRY.deadlineMs / 60_000} minutes per call`,
    );
  });

  it("states how Cloud Run operations are polled", () => {
    expect(row("a Cloud Run operation not done yet")).toContain(
      `polled every ${CLOUD_RUN_POLL_MS / 1000} s, up to ${CLOUD_RUN_OPERATION_DEADLINE_MS / 60_000} minutes`,
    );
  });

  it("states each request's timeout", () => {
    expect(row("a request that hangs")).toContain(
      `(${CLOUD_RUN_REQUEST_TIMEOUT_MS / 1000} s to Cloud Run, ${LAMBDA_REQUEST_TIMEOUT_MS / 1000} s to Lambda, Invoke included)`,
    );
  });

  it("names test files that exist", () => {
    const named = [...page.matchAll(/`(tests\/[^`]+\.test\.ts)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(2);
    for (const file of named) expect(fs.existsSync(path.join(PROJECT_DIR, file)), file).toBe(true);
  });
});
