/**
 * Whether the `pulumi` update that started this release step still runs. The step runs under the
 * `command` provider (`/bin/sh -c`, pulumi-command `local/commandOutputs.go` `run`), which the engine
 * starts in a process group of its own (pulumi/pulumi `sdk/go/common/resource/plugin/plugin.go`
 * `execPlugin`, `cmdutil.RegisterProcessGroup`). A `kill -9` of the CLI alone therefore leaves the
 * provider, the shell and this step running, and nothing tells the step: it must look. It records its
 * ancestors up to the CLI when it starts, and the update is gone once any of them is.
 *
 * Linux reads `/proc/<pid>/stat` (the path the suites run); elsewhere `ps -o ppid=,stat=,lstart=,comm=`,
 * which no test here runs (no macOS machine). A PID re-used by another program is told apart by its
 * command name and start time; a zombie counts as exited.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import type { UpdateWatch } from "./run";

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  /** proc(5) state: `Z` is a zombie, a process that has exited and waits to be reaped. */
  state?: string;
  /** Start time in clock ticks since boot (Linux), or "" where `ps` gives none comparable. */
  start: string;
}

/** `pid (comm) state ppid … starttime` (proc(5): field 4 is ppid, field 22 starttime). */
export function parseProcStat(text: string): Omit<Proc, "pid"> | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(" ");
  return { comm: text.slice(open + 1, close), state: rest[0], ppid: Number(rest[1]), start: rest[19] ?? "" };
}

/**
 * A process as the system reports it: undefined when it does not exist, `"unknown"` when the system
 * could not say (a `ps` that failed), which is never taken for an exit.
 */
function readProc(pid: number): Proc | undefined | "unknown" {
  if (fs.existsSync("/proc/self/stat")) {
    try {
      const p = parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
      return p ? { pid, ...p } : undefined;
    } catch {
      return undefined;
    }
  }
  let out: string;
  try {
    out = execFileSync("ps", ["-o", "ppid=,stat=,lstart=,comm=", "-p", String(pid)], {
      encoding: "utf8",
    }).trim();
  } catch (err) {
    // `ps -p` exits 1 when there is no such process and prints nothing; anything else is unknown.
    return (err as { status?: number; stdout?: string }).status === 1 && !(err as { stdout?: string }).stdout
      ? undefined
      : "unknown";
  }
  const m = /^(\d+)\s+(\S+)\s+(\w+ \w+ +\d+ [\d:]+ \d+)\s+(.*)$/.exec(out);
  return m
    ? { pid, ppid: Number(m[1]), state: m[2]![0], start: m[3]!, comm: m[4]!.split("/").pop()! }
    : "unknown";
}

/** The CLI's process name: the `pulumi` binary. */
const ENGINE = /^pulumi$/;

/**
 * This process's ancestors up to and including the `pulumi` CLI; empty when no CLI is among the
 * first `depth` (the step run by hand: nothing to watch).
 */
export function updateAncestry(
  pid = process.ppid,
  read: (pid: number) => Proc | undefined | "unknown" = readProc,
  depth = 12,
): Proc[] {
  const chain: Proc[] = [];
  const known = (p: Proc | undefined | "unknown") => (p === "unknown" ? undefined : p);
  for (
    let p = known(read(pid));
    p && chain.length < depth;
    p = p.ppid > 1 ? known(read(p.ppid)) : undefined
  ) {
    chain.push(p);
    if (ENGINE.test(p.comm)) return chain;
  }
  return [];
}

/** A watch of the update that started this process; `gone()` says which ancestor has exited. */
export function watchUpdate(
  read: (pid: number) => Proc | undefined | "unknown" = readProc,
  chain: Proc[] = updateAncestry(process.ppid, read),
): UpdateWatch & { watched: number } {
  return {
    watched: chain.length,
    async gone() {
      for (const p of chain) {
        const now = read(p.pid);
        if (now === "unknown") continue;
        if (!now || now.state === "Z" || now.comm !== p.comm || now.start !== p.start)
          return `${ENGINE.test(p.comm) ? "the pulumi CLI" : p.comm} (pid ${p.pid}) has exited`;
      }
      return undefined;
    },
  };
}

/**
 * The command line of the `pulumi` CLI this process runs under (its path first): Linux reads
 * `/proc/<pid>/cmdline` (NUL-separated, exact); elsewhere `ps -ww -o args=`, split on spaces (an
 * argument with a space in it is split too). Undefined when no CLI is an ancestor (the offline plan,
 * a test) or its command line cannot be read.
 */
export function cliCommandLine(
  read: (pid: number) => Proc | undefined | "unknown" = readProc,
  pid = process.ppid,
): string[] | undefined {
  const cli = updateAncestry(pid, read).at(-1);
  if (cli === undefined) return undefined;
  try {
    if (fs.existsSync("/proc/self/cmdline")) {
      return fs
        .readFileSync(`/proc/${cli.pid}/cmdline`, "utf8")
        .split("\0")
        .filter((a) => a !== "");
    }
    return execFileSync("ps", ["-ww", "-o", "args=", "-p", String(cli.pid)], { encoding: "utf8" })
      .trim()
      .split(/\s+/);
  } catch {
    return undefined;
  }
}
