import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";

/** Where the commit that names this deploy's images came from. */
export type CommitSource = "config" | "GITHUB_SHA" | "git";

export interface CommitInfo {
  /** Full 40-character commit SHA. */
  sha: string;
  source: CommitSource;
  /** Whether the work tree that is being built differs from `sha`. */
  dirty: boolean;
  /** A short hash of the uncommitted changes when dirty, so two dirty builds never share a tag. */
  dirtyHash?: string;
  /** Commit time in seconds since the epoch; the builds' `SOURCE_DATE_EPOCH`. 0 when git cannot tell. */
  timestamp: number;
}

export const COMMIT_SHA_PATTERN = /^[0-9a-f]{40}$/;

/** Runs git with arguments in the program's directory; returns trimmed stdout or undefined on failure. */
export type GitRunner = (args: string[]) => string | undefined;

export const runGit: GitRunner = (args) => {
  try {
    return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
};

export interface ResolveCommitInput {
  /** `multicloud-deploy:commitSha` from stack config, if set. */
  configSha?: string;
  env: Record<string, string | undefined>;
  git: GitRunner;
}

/**
 * Resolves the commit SHA for image tags, in this order: stack config `multicloud-deploy:commitSha`,
 * `GITHUB_SHA` (GitHub Actions), then `git rev-parse HEAD`. Pulumi Deployments sets no commit variable
 * (it sets `PULUMI_CI_SYSTEM` and the deployment id); it clones the repository at the pushed commit,
 * so the git fallback applies there. Dirtiness is always read from the work tree, because the work
 * tree is what gets built. Returns a problem message instead of throwing, so config validation can
 * report it with the others.
 */
export function resolveCommit(input: ResolveCommitInput): CommitInfo | { problem: string } {
  const fromEnv = input.env.GITHUB_SHA?.trim().toLowerCase();
  let sha: string | undefined;
  let source: CommitSource;
  if (input.configSha !== undefined) {
    sha = input.configSha.trim().toLowerCase();
    source = "config";
  } else if (fromEnv) {
    sha = fromEnv;
    source = "GITHUB_SHA";
  } else {
    sha = input.git(["rev-parse", "HEAD"]);
    source = "git";
    if (sha === undefined) {
      return {
        problem:
          "cannot tell which commit to tag images with: no multicloud-deploy:commitSha in stack config, no GITHUB_SHA, " +
          "and `git rev-parse HEAD` failed; run from a git checkout with at least one commit, or set " +
          "`pulumi config set multicloud-deploy:commitSha <40-char sha>`",
      };
    }
  }
  if (!COMMIT_SHA_PATTERN.test(sha)) {
    const where = source === "config" ? "multicloud-deploy:commitSha" : source;
    return {
      problem: `${where}: expected a full 40-character lowercase hex commit SHA, got ${JSON.stringify(sha)}`,
    };
  }
  const status = input.git(["status", "--porcelain", "--untracked-files=normal"]);
  const dirty = status !== undefined && status !== "";
  const timestampText = input.git(["log", "-1", "--format=%ct", sha]);
  const timestamp = timestampText && /^\d+$/.test(timestampText) ? Number(timestampText) : 0;
  const info: CommitInfo = { sha, source, dirty, timestamp };
  if (dirty) {
    // The diff against HEAD plus the list of untracked files: the same edits give the same hash,
    // different edits give different tags, so immutable registries never see a clashing push.
    const diff = input.git(["diff", "HEAD", "--binary"]) ?? "";
    const untrackedFiles = (input.git(["ls-files", "--others", "--exclude-standard"]) ?? "")
      .split("\n")
      .filter(Boolean);
    const untracked =
      untrackedFiles.length === 0
        ? ""
        : `${untrackedFiles.join("\n")}\n${input.git(["hash-object", "--", ...untrackedFiles]) ?? ""}`;
    info.dirtyHash = createHash("sha256")
      .update(diff)
      .update("\0")
      .update(untracked)
      .digest("hex")
      .slice(0, 8);
  }
  return info;
}

/**
 * `org.opencontainers.image.source`: stack config, else GitHub Actions' variables, else the git remote
 * `origin` turned into an https URL. Undefined when none is known (the label is then left out).
 */
export function resolveSourceUrl(
  configUrl: string | undefined,
  env: Record<string, string | undefined>,
  git: GitRunner,
): string | undefined {
  if (configUrl) return configUrl;
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY)
    return `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}`;
  const remote = git(["remote", "get-url", "origin"]);
  if (!remote) return undefined;
  const scp = /^[\w.-]+@([\w.-]+):(.+?)(?:\.git)?$/.exec(remote);
  if (scp) return `https://${scp[1]}/${scp[2]}`;
  const url = /^(https?):\/\/(?:[^@/]+@)?([^/]+)\/(.+?)(?:\.git)?$/.exec(remote);
  return url ? `https://${url[2]}/${url[3]}` : undefined;
}
