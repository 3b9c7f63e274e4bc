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
  /** What a reviewer should know about where the commit came from (e.g. a `GITHUB_SHA` that was ignored). */
  notes: string[];
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
 * Resolves the commit SHA for image tags. Images are built from the files on disk, so when a git work
 * tree is present its checked-out commit (`git rev-parse HEAD`) is the commit: stack config
 * `multicloud-deploy:commitSha` must then name that same commit, and `GITHUB_SHA` (which on a
 * `pull_request` run names the merge commit, whatever the workflow checked out) is ignored with a
 * note. Without a work tree (a source archive), `multicloud-deploy:commitSha`, then `GITHUB_SHA`.
 * Pulumi Deployments sets no commit variable; it clones the repository at the pushed commit, so HEAD
 * applies there. Dirtiness is always read from the work tree. Returns a problem message instead of
 * throwing, so config validation can report it with the others.
 */
export function resolveCommit(input: ResolveCommitInput): CommitInfo | { problem: string } {
  const fromEnv = input.env.GITHUB_SHA?.trim().toLowerCase() || undefined;
  const fromConfig = input.configSha?.trim().toLowerCase();
  const head = input.git(["rev-parse", "HEAD"]);
  const notes: string[] = [];
  let sha: string;
  let source: CommitSource;
  if (fromConfig !== undefined) {
    if (!COMMIT_SHA_PATTERN.test(fromConfig)) {
      return {
        problem: `multicloud-deploy:commitSha: expected a full 40-character lowercase hex commit SHA, got ${JSON.stringify(fromConfig)}`,
      };
    }
    if (head !== undefined && head !== fromConfig) {
      return {
        problem:
          `multicloud-deploy:commitSha: is ${fromConfig} but the checked-out commit is ${head} (git rev-parse HEAD); ` +
          "the images are built from the checked-out files, so they would be tagged as a commit they were not built from. " +
          `Remove commitSha (the checked-out commit is used), or check out ${fromConfig}`,
      };
    }
    sha = fromConfig;
    source = "config";
    if (fromEnv !== undefined && fromEnv !== sha)
      notes.push(`GITHUB_SHA (${fromEnv}) is set but ignored: multicloud-deploy:commitSha (${sha}) is used`);
  } else if (head !== undefined) {
    sha = head;
    source = "git";
    if (fromEnv !== undefined && fromEnv !== sha) {
      notes.push(
        `GITHUB_SHA (${fromEnv}) is set but ignored: the checked-out commit ${sha} is what is built and tagged`,
      );
    }
  } else if (fromEnv !== undefined) {
    if (!COMMIT_SHA_PATTERN.test(fromEnv)) {
      return {
        problem: `GITHUB_SHA: expected a full 40-character lowercase hex commit SHA, got ${JSON.stringify(fromEnv)}`,
      };
    }
    sha = fromEnv;
    source = "GITHUB_SHA";
  } else {
    return {
      problem:
        "cannot tell which commit to tag images with: this is not a git work tree (`git rev-parse HEAD` failed), " +
        "GITHUB_SHA is not set and multicloud-deploy:commitSha is not in the stack config; run from a git checkout " +
        "with at least one commit, or set `pulumi config set multicloud-deploy:commitSha <40-char sha>`",
    };
  }
  const status = input.git(["status", "--porcelain", "--untracked-files=normal"]);
  const dirty = status !== undefined && status !== "";
  const timestampText = input.git(["log", "-1", "--format=%ct", sha]);
  const timestamp = timestampText && /^\d+$/.test(timestampText) ? Number(timestampText) : 0;
  const info: CommitInfo = { sha, source, dirty, timestamp, notes };
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
