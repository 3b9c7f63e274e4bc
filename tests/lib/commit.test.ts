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
  it("prefers stack config, then GITHUB_SHA, then git", () => {
    expect(resolveCommit({ configSha: OTHER, env: { GITHUB_SHA: HEAD }, git: git(clean) })).toMatchObject({
      sha: OTHER,
      source: "config",
    });
    expect(resolveCommit({ env: { GITHUB_SHA: OTHER.toUpperCase() }, git: git(clean) })).toMatchObject({
      sha: OTHER,
      source: "GITHUB_SHA",
    });
    expect(resolveCommit({ env: {}, git: git(clean) })).toEqual({
      sha: HEAD,
      source: "git",
      dirty: false,
      timestamp: 1_700_000_000,
    });
  });

  it("explains what to do when no commit can be found", () => {
    expect(resolveCommit({ env: {}, git: git({}) })).toEqual({
      problem: expect.stringMatching(
        /^cannot tell which commit to tag images with: .*pulumi config set multicloud-deploy:commitSha/,
      ),
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
