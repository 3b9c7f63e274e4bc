import { describe, expect, it } from "vitest";
import { parsePromotedImages } from "../../lib/promotion";

const STACK = "acme/multicloud-deploy/staging";
const good = {
  repositoryUrl: "us-central1-docker.pkg.dev/acme-apps-staging/apps/api",
  digest: `sha256:${"a".repeat(64)}`,
  tag: `${"b".repeat(40)}-amd64-1a2b3c4d`,
  platform: "linux/amd64",
  commitSha: "b".repeat(40),
  verified: true,
};
const api = [{ name: "api", platform: "linux/amd64" as const }];

describe("parsePromotedImages", () => {
  it("returns each service's image without the verified marker", () => {
    const { verified: _v, ...image } = good;
    expect(parsePromotedImages({ api: good, other: {} }, STACK, api)).toEqual({ api: image });
  });

  it.each([
    [
      "no images output at all",
      undefined,
      `stack ${STACK} has no output "images" (got nothing): run \`pulumi up\` on ${STACK} first; a stack deployed by an older version of this program must be updated once before it can be promoted from`,
    ],
    [
      "a missing service",
      {},
      `stack ${STACK} output images.api is missing: deploy api to ${STACK} first, or remove it from this stack`,
    ],
    [
      "a tag where the digest belongs",
      { api: { ...good, digest: "latest" } },
      `stack ${STACK} output images.api.digest: expected a manifest digest "sha256:<64 hex>"`,
    ],
    [
      "a repository that carries a digest",
      { api: { ...good, repositoryUrl: `${good.repositoryUrl}@${good.digest}` } },
      `stack ${STACK} output images.api.repositoryUrl: expected a repository URL without tag or digest`,
    ],
    [
      "an unverified image",
      { api: { ...good, verified: false } },
      `stack ${STACK} output images.api was not verified (verified is not true): fix ${STACK}'s deployment first`,
    ],
    [
      "another platform",
      { api: { ...good, platform: "linux/arm64" } },
      `stack ${STACK} output images.api.platform is linux/arm64 but this stack runs api on linux/amd64; give the service the same platform in both stacks`,
    ],
    [
      "an abbreviated commit",
      { api: { ...good, commitSha: "abc123" } },
      `stack ${STACK} output images.api.commitSha: expected a 40-character commit SHA`,
    ],
  ])("names the output at fault: %s", (_what, images, problem) => {
    expect(() => parsePromotedImages(images, STACK, api)).toThrow(`\n  - ${problem}`);
  });

  it("refuses to ship images of another commit than the one being deployed", () => {
    const other = "c".repeat(40);
    expect(() => parsePromotedImages({ api: good }, STACK, api, { commit: other })).toThrow(
      `stack ${STACK} output images.api.commitSha is ${good.commitSha} but this update deploys commit ${other}: ` +
        `promote the commit ${STACK} runs (git push origin ${good.commitSha}:refs/heads/release), or deploy ${other} to ${STACK} first`,
    );
    expect(Object.keys(parsePromotedImages({ api: good }, STACK, api, { commit: good.commitSha }))).toEqual([
      "api",
    ]);
  });

  it("reports every service's problems at once", () => {
    const services = [...api, { name: "worker", platform: "linux/arm64" as const }];
    expect(() => parsePromotedImages({ api: { ...good, tag: "" } }, STACK, services)).toThrow(
      `cannot promote from ${STACK}: 2 problems (nothing was deployed)`,
    );
  });
});
