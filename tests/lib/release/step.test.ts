/** The release step's one codec: what the components write is what the script, the plan and the pack read. */
import { describe, expect, it } from "vitest";
import {
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
  rollout: { steps: [10, 50], waitSeconds: 60 },
};
const lambda: ReleaseStep = {
  target: "lambda",
  functionArn: "arn:aws:lambda:us-east-1:111111111111:function:worker",
  version: "7",
  alias: "live",
  healthPath: "/health",
  gate: "invoke",
};

describe("the release step's codec", () => {
  it.each([cloudRun, lambda, { ...cloudRun, gate: "none" as const, rollout: undefined }])(
    "reads back what it writes: %j",
    (step) => {
      const { rollout, ...rest } = step;
      const expected = rollout ? step : rest;
      expect(decodeReleaseStep(encodeReleaseStep(step))).toEqual(expected);
    },
  );

  it("writes the command line existing stacks already have (a change would update every release step)", () => {
    expect(encodeReleaseStep(cloudRun)).toBe(
      `${RELEASE_COMMAND} cloudrun projects/p/locations/us-central1/services/api --revision api-0123456-abcde --health-path /health --gate id-token:gate@p.iam.gserviceaccount.com --steps 10,50 --wait-seconds 60`,
    );
    expect(encodeReleaseStep(lambda)).toBe(
      `${RELEASE_COMMAND} lambda arn:aws:lambda:us-east-1:111111111111:function:worker --version 7 --alias live --health-path /health --gate invoke`,
    );
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
      "lambda arn:aws:lambda:us-east-1:111111111111:function:w --version x --alias live --gate public --health-path /h",
      ["--version x: a published version is a number", "--gate public: a Lambda gate is invoke or none"],
    ],
    [
      "cloudrun projects/p/locations/r/services/api --revision api-1 --gate public --health-path /h --steps 50,10 --wait-seconds 9999",
      [
        "--steps[1] is 10, not above steps[0] (50); steps must ascend",
        "--wait-seconds is 9999; expected whole seconds 0-3600",
      ],
    ],
    ["gke x", ['the first argument is "gke"; expected cloudrun or lambda']],
    [
      "cloudrun projects/p/locations/r/services/api --revision api-1 --gate public --health-path /h --version 3",
      [
        "--version is not a cloudrun release flag; expected --revision, --health-path, --gate, --steps, --wait-seconds",
      ],
    ],
  ])("refuses %s, naming each flag", (args, problems) => {
    expect(decodeReleaseArgs(args.split(" ")).problems).toEqual(problems);
  });
});
