/** The release step's one codec: what the components write is what the script, the plan and the pack read. */
import { describe, expect, it } from "vitest";
import {
  ANALYSIS_DEFAULTS,
  decodeReleaseArgs,
  decodeReleaseStep,
  encodeReleaseStep,
  type ReleaseStep,
} from "../../../lib/release";
import { RELEASE_COMMAND } from "../../../lib/scripts";

const cloudRun: ReleaseStep = {
  target: "cloudrun",
  service: "projects/p/locations/us-central1/services/api",
  revision: "api-0123456-abcde",
  healthPath: "/health",
  gate: { idTokenFor: "gate@p.iam.gserviceaccount.com" },
  gateRetry: { attempts: 10, intervalSeconds: 3, timeoutSeconds: 10 },
  rollout: { steps: [10, 50], waitSeconds: 60 },
  analysis: ANALYSIS_DEFAULTS,
};
const lambda: ReleaseStep = {
  target: "lambda",
  functionArn: "arn:aws:lambda:us-east-1:111111111111:function:worker",
  version: "7",
  alias: "live",
  healthPath: "/health",
  gate: "invoke",
  gateRetry: { attempts: 5, intervalSeconds: 3, timeoutSeconds: 60 },
};

describe("the release step's codec", () => {
  it.each([
    cloudRun,
    lambda,
    { ...lambda, rollout: { steps: [20], waitSeconds: 5 }, analysis: "off" as const },
    // A threshold String() writes in exponent form reads back the same.
    {
      ...lambda,
      rollout: { steps: [20], waitSeconds: 5 },
      analysis: { ...ANALYSIS_DEFAULTS, maxErrorRate: 1e-7, tooFewRequests: "pass" as const },
    },
    { ...cloudRun, gate: "none" as const, gateRetry: undefined, rollout: undefined, analysis: undefined },
  ])("reads back what it writes: %j", (step) => {
    const { rollout, gateRetry, analysis, ...rest } = step;
    const expected = {
      ...rest,
      ...(gateRetry ? { gateRetry } : {}),
      ...(rollout ? { rollout } : {}),
      ...(analysis ? { analysis } : {}),
    };
    expect(decodeReleaseStep(encodeReleaseStep(step))).toEqual(expected);
  });

  it("writes every field on the command line (a change updates every release step once: docs/upgrading.md)", () => {
    expect(encodeReleaseStep(cloudRun)).toBe(
      `${RELEASE_COMMAND} cloudrun projects/p/locations/us-central1/services/api --revision api-0123456-abcde --health-path /health --gate id-token:gate@p.iam.gserviceaccount.com --gate-attempts 10 --gate-interval-seconds 3 --gate-timeout-seconds 10 --steps 10,50 --wait-seconds 60 --max-error-rate 0.01 --max-p99-latency-ms 1500 --min-requests 50 --too-few-requests hold --max-hold-seconds 600 --metric-delay-seconds 180`,
    );
    expect(encodeReleaseStep(lambda)).toBe(
      `${RELEASE_COMMAND} lambda arn:aws:lambda:us-east-1:111111111111:function:worker --version 7 --alias live --health-path /health --gate invoke --gate-attempts 5 --gate-interval-seconds 3 --gate-timeout-seconds 60`,
    );
  });

  it("carries the image checks: the scan gate, and the signature by a pinned key or the signing stack's KMS key", () => {
    const ref = `us-central1-docker.pkg.dev/p/apps/api@sha256:${"a".repeat(64)}`;
    const promoted: ReleaseStep = {
      ...cloudRun,
      image: {
        ref,
        scan: {
          maxCritical: 0,
          maxHigh: 5,
          deadlineSeconds: 900,
          allow: [{ id: "RHSA-2023:1234", expires: "2027-01-31" }],
          allowUnscanned: true,
        },
        signature: {
          commit: "c".repeat(40),
          stack: "staging",
          reference: "us-central1-docker.pkg.dev/s/apps/api",
        },
      },
    };
    expect(encodeReleaseStep(promoted)).toContain(
      ` --image ${ref} --max-critical 0 --max-high 5 --deadline-seconds 900 --allow RHSA-2023:1234:2027-01-31 --allow-unscanned --signed-for ${"c".repeat(40)} --signed-by staging --signed-as us-central1-docker.pkg.dev/s/apps/api`,
    );
    expect(decodeReleaseStep(encodeReleaseStep(promoted))).toEqual(promoted);
    const signed: ReleaseStep = {
      ...lambda,
      image: {
        ref,
        signature: {
          commit: "c".repeat(40),
          stack: "staging",
          reference: ref.split("@")[0]!,
          key: { cloud: "aws", keyId: "alias/signing", region: "eu-west-1" },
        },
      },
    };
    expect(encodeReleaseStep(signed)).toContain(
      "--signed-with awskms:///alias/signing --aws-region eu-west-1",
    );
    expect(decodeReleaseStep(encodeReleaseStep(signed))).toEqual(signed);
    const lambdaArgs = [
      "lambda",
      lambda.functionArn,
      "--version",
      "7",
      "--alias",
      "live",
      "--health-path",
      "/h",
      "--gate",
      "invoke",
      "--gate-attempts",
      "5",
      "--gate-interval-seconds",
      "3",
      "--gate-timeout-seconds",
      "60",
    ];
    expect(decodeReleaseArgs([...lambdaArgs, "--signed-for", "c", "--signed-by", "s"]).problems).toEqual([
      "--image <repo>@sha256:<hex> is required with the image checks (scan and signature flags)",
    ]);
    expect(decodeReleaseArgs([...lambdaArgs, "--image", ref, "--signed-for", "c"]).problems).toEqual([
      "--signed-for and --signed-by go together (with --signed-as, --signed-with)",
    ]);
  });

  it("never writes a gated line its decoder would refuse", () => {
    expect(() => encodeReleaseStep({ ...cloudRun, gateRetry: undefined })).toThrow(
      "a gated step needs gateRetry",
    );
    expect(() => encodeReleaseStep({ ...cloudRun, analysis: undefined })).toThrow(
      "a gated rollout needs analysis",
    );
    expect(() => encodeReleaseStep({ ...lambda, analysis: "off" })).toThrow("a gated rollout needs analysis");
  });

  it("is not a verify or promote command line", () => {
    expect(
      decodeReleaseStep("node_modules/.bin/tsx scripts/verify-image.ts r@sha256:x --platform linux/amd64"),
    ).toBeUndefined();
  });

  it.each<[string, string[]]>([
    // A missing gate is an error, never a default: the plan and the step cannot disagree on it.
    [
      "cloudrun projects/p/locations/r/services/api --revision api-1 --health-path /health",
      ["--gate is missing"],
    ],
    [
      "lambda arn:aws:lambda:us-east-1:111111111111:function:w --version x --alias live --gate public --health-path /h --gate-attempts 5 --gate-interval-seconds 3 --gate-timeout-seconds 60",
      ["--version x: a published version is a number", "--gate public: a Lambda gate is invoke or none"],
    ],
    // How hard a gate tries is on the line too: missing or out of its limits is named.
    [
      "cloudrun projects/p/locations/r/services/api --revision api-1 --gate public --health-path /h --gate-attempts 0 --gate-interval-seconds 3",
      [
        "--gate-attempts 0: expected a whole number from 1 to 30",
        "--gate-timeout-seconds is missing (a gate says how hard it tries)",
      ],
    ],
    [
      "cloudrun projects/p/locations/r/services/api --revision api-1 --gate none --health-path /h --gate-attempts 3",
      ["--gate-attempts goes with a gate, not --gate none"],
    ],
    [
      "cloudrun projects/p/locations/r/services/api --revision api-1 --gate public --health-path /h --gate-attempts 10 --gate-interval-seconds 3 --gate-timeout-seconds 10 --steps 50,10 --wait-seconds 9999 --analysis off",
      [
        "--steps[1] is 10, not above steps[0] (50); steps must ascend",
        "--wait-seconds is 9999; expected whole seconds 0-3600",
      ],
    ],
    // How a gated rollout's traffic is judged is on the line too: all of it, or --analysis off.
    [
      "lambda arn:aws:lambda:us-east-1:111111111111:function:w --version 3 --alias live --gate invoke --health-path /h --gate-attempts 5 --gate-interval-seconds 3 --gate-timeout-seconds 60 --steps 10 --wait-seconds 60 --max-error-rate 2 --max-p99-latency-ms 1500 --min-requests 0 --too-few-requests wait --max-hold-seconds 600",
      [
        "--metric-delay-seconds is missing (a gated rollout says how its traffic is judged, or --analysis off)",
      ],
    ],
    [
      "lambda arn:aws:lambda:us-east-1:111111111111:function:w --version 3 --alias live --gate invoke --health-path /h --gate-attempts 5 --gate-interval-seconds 3 --gate-timeout-seconds 60 --steps 10 --wait-seconds 60 --max-error-rate 2 --max-p99-latency-ms 1500 --min-requests 0 --too-few-requests wait --max-hold-seconds 600 --metric-delay-seconds 180",
      [
        "--max-error-rate is 2; expected a number from 0 to 1",
        "--min-requests is 0; expected a whole number from 1 to 1000000",
        '--too-few-requests is "wait"; expected "hold" or "pass"',
      ],
    ],
    [
      "cloudrun projects/p/locations/r/services/api --revision api-1 --gate none --health-path /h --steps 10 --wait-seconds 60 --analysis off",
      ["--analysis goes with a gated rollout (--steps and a --gate)"],
    ],
    ["gke x", ['the first argument is "gke"; expected cloudrun or lambda']],
    [
      "cloudrun projects/p/locations/r/services/api --revision api-1 --gate public --health-path /h --gate-attempts 10 --gate-interval-seconds 3 --gate-timeout-seconds 10 --version 3",
      [
        "--version is not a cloudrun release flag; expected --revision, --health-path, --gate, --gate-attempts, --gate-interval-seconds, --gate-timeout-seconds, --steps, --wait-seconds, --analysis, --max-error-rate, --max-p99-latency-ms, --min-requests, --too-few-requests, --max-hold-seconds, --metric-delay-seconds, --image",
      ],
    ],
  ])("refuses %s, naming each flag", (args, problems) => {
    expect(decodeReleaseArgs(args.split(" ")).problems).toEqual(problems);
  });
});
