import { describe, expect, it } from "vitest";
import { resolveCommit, resolveSourceUrl, type GitRunner } from "../../lib/commit";

const HEAD = "1111111111111111111111111111111111111111";
const OTHER = "2222222222222222222222222222222222222222";

/** A fake git: answers from a table keyed by the joined arguments. */
function git(answers: Record<string, string | undefined>): GitRunner & { calls: string[] } {
  const calls: string[] = [];
  const run = ((args: string[]) => {
    calls.push(args.join(" "));
    return answers[args.join(" ")] ?? answers[args[0]!];
  }) as GitRunner & { calls: string[] };
  run.calls = calls;
  return run;
}

const clean = { "rev-parse HEAD": HEAD, status: "", log: "1700000000" };

describe("resolveCommit", () => {
  const noWorkTree = { status: undefined };

  it.each([
    ["config at HEAD", { configSha: HEAD, env: {}, git: clean }, { sha: HEAD, source: "config", notes: [] }],
    ["HEAD", { env: {}, git: clean }, { sha: HEAD, source: "git", notes: [] }],
    [
      "HEAD over GITHUB_SHA, saying so",
      { env: { GITHUB_SHA: OTHER }, git: clean },
      {
        sha: HEAD,
        source: "git",
        notes: [
          `GITHUB_SHA (${OTHER}) is set but ignored: the checked-out commit ${HEAD} is what is built and tagged`,
        ],
      },
    ],
    [
      "config without a work tree, saying GITHUB_SHA is ignored",
      { configSha: OTHER, env: { GITHUB_SHA: HEAD }, git: noWorkTree },
      {
        sha: OTHER,
        source: "config",
        notes: [`GITHUB_SHA (${HEAD}) is set but ignored: multicloud-deploy:commitSha (${OTHER}) is used`],
      },
    ],
    [
      "GITHUB_SHA without a work tree (upper case accepted)",
      { env: { GITHUB_SHA: OTHER.toUpperCase() }, git: noWorkTree },
      { sha: OTHER, source: "GITHUB_SHA", notes: [] },
    ],
  ] as const)("takes %s", (_, input, expected) => {
    expect(resolveCommit({ ...input, git: git(input.git) })).toMatchObject(expected);
  });

  it("refuses a commitSha that is not the checked-out commit: the images would carry another commit's tag", () => {
    expect(resolveCommit({ configSha: OTHER, env: {}, git: git(clean) })).toEqual({
      problem:
        `multicloud-deploy:commitSha: is ${OTHER} but the checked-out commit is ${HEAD} (git rev-parse HEAD); ` +
        "the images are built from the checked-out files, so they would be tagged as a commit they were not built from. " +
        `Remove commitSha (the checked-out commit is used), or check out ${OTHER}`,
    });
  });

  it("explains what to do when no commit can be found", () => {
    expect(resolveCommit({ env: {}, git: git({}) })).toEqual({
      problem:
        "cannot tell which commit to tag images with: this is not a git work tree (`git rev-parse HEAD` failed), " +
        "GITHUB_SHA is not set and multicloud-deploy:commitSha is not in the stack config; run from a git checkout " +
        "with at least one commit, or set `pulumi config set multicloud-deploy:commitSha <40-char sha>`",
    });
  });

  it("rejects an abbreviated SHA, naming where it came from", () => {
    expect(resolveCommit({ configSha: "abc123", env: {}, git: git(clean) })).toEqual({
      problem:
        'multicloud-deploy:commitSha: expected a full 40-character lowercase hex commit SHA, got "abc123"',
    });
  });

  it("hashes the uncommitted changes: same edits, same hash; other edits, other hash", () => {
    const dirty = (diff: string) =>
      resolveCommit({ env: {}, git: git({ ...clean, status: " M a.ts", diff, "ls-files": "" }) });
    const a = dirty("diff A") as { dirty: boolean; dirtyHash: string };
    expect(a.dirty).toBe(true);
    expect(a.dirtyHash).toMatch(/^[0-9a-f]{8}$/);
    expect((dirty("diff A") as { dirtyHash: string }).dirtyHash).toBe(a.dirtyHash);
    expect((dirty("diff B") as { dirtyHash: string }).dirtyHash).not.toBe(a.dirtyHash);
  });

  it("uses 0 as the build time when git cannot tell the commit time", () => {
    expect(resolveCommit({ configSha: OTHER, env: {}, git: git({ status: "" }) })).toMatchObject({
      timestamp: 0,
    });
  });
});

describe("resolveSourceUrl", () => {
  it.each([
    ["git@github.com:acme/app.git", "https://github.com/acme/app"],
    ["https://token@github.com/acme/app.git", "https://github.com/acme/app"],
    ["https://gitlab.example.com/group/sub/app", "https://gitlab.example.com/group/sub/app"],
  ])("turns the origin remote %s into %s, dropping credentials", (remote, url) => {
    expect(resolveSourceUrl(undefined, {}, git({ remote }))).toBe(url);
  });

  it("prefers config, then GitHub Actions' variables", () => {
    const env = { GITHUB_SERVER_URL: "https://github.com", GITHUB_REPOSITORY: "acme/app" };
    expect(resolveSourceUrl("https://x.example/y", env, git({}))).toBe("https://x.example/y");
    expect(resolveSourceUrl(undefined, env, git({}))).toBe("https://github.com/acme/app");
    expect(resolveSourceUrl(undefined, {}, git({}))).toBeUndefined();
  });
});
