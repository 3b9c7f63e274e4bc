/**
 * Whether the `pulumi` command running this program refreshes before it updates (pure).
 *
 * The release design reads live traffic through refresh (docs/safe-release.md): without it, the
 * Cloud Run Service update sends back the traffic its state remembers (the provider's Update PATCHes
 * `traffic` from state while the program ignores it), so users move to the revision that served
 * before the last release, before any gate runs. So an update that would not refresh is refused
 * before anything is registered, and a preview that would not says its diff is against old state.
 *
 * The CLI decides as `GetRefreshOption` does (pulumi/pulumi pkg/cmd/pulumi/operations/io.go): an
 * explicit `--refresh[=bool]` / `-r[=bool]` wins (the flag's `NoOptDefVal` is "true", up.go, so a bare
 * flag never takes the next word as its value, and the value is read by Go's `strconv.ParseBool`);
 * without one, `options.refresh: always` in Pulumi.yaml refreshes and anything else does not. Flags
 * are read as pflag reads them: the last one wins, `--` ends them, and a group of shorthands (`-yfr`)
 * is read one letter at a time, a letter that takes a value taking the rest of the group.
 */

/** The command and its refresh flag, as given on the CLI's command line. */
export interface PulumiInvocation {
  /** `up`, `watch` or `preview`: the first word that names one (aliases `update`, `pre`: up.go, preview.go). */
  command?: string;
  /** The `--refresh` value as given ("true" for a bare flag); undefined when the flag is absent. */
  refresh?: string;
}

/** Shorthands of `pulumi up`/`preview` and the root command that take a value (pflag `…VarP`). */
const VALUE_SHORTHANDS = new Set(["c", "m", "p", "s", "t", "x", "C", "v"]);
/** Commands that update (`watch` runs `up` on every change) or preview; others run no program update. */
const COMMANDS: Record<string, string> = {
  up: "up",
  update: "up",
  watch: "watch",
  preview: "preview",
  pre: "preview",
};

/** `argv` is the CLI's own, its path first (`/proc/<pid>/cmdline`). */
export function parsePulumiArgs(argv: readonly string[]): PulumiInvocation {
  const out: PulumiInvocation = {};
  for (const arg of argv.slice(1)) {
    if (arg === "--") break;
    if (out.command === undefined && COMMANDS[arg]) {
      out.command = COMMANDS[arg];
      continue;
    }
    if (arg === "--refresh") out.refresh = "true";
    else if (arg.startsWith("--refresh=")) out.refresh = arg.slice("--refresh=".length);
    else if (/^-[^-]/.test(arg)) {
      for (let i = 1; i < arg.length; i++) {
        const ch = arg[i]!;
        if (ch === "r") {
          out.refresh = arg[i + 1] === "=" ? arg.slice(i + 2) : "true";
          if (arg[i + 1] === "=") break;
        } else if (VALUE_SHORTHANDS.has(ch)) break;
      }
    }
  }
  return out;
}

/** Go's `strconv.ParseBool`; undefined for anything else (the CLI refuses it). */
export function parseGoBool(value: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  return undefined;
}

/** Whether the command refreshes first, as the CLI decides it. */
export function refreshes(inv: PulumiInvocation, projectRefresh: string | undefined): boolean {
  if (inv.refresh !== undefined) return parseGoBool(inv.refresh) ?? true;
  return projectRefresh === "always";
}

/**
 * What to say about a command that would not refresh: an error for `up`, a warning for `preview`;
 * undefined when it refreshes (or is another command).
 */
export function staleStateProblem(
  inv: PulumiInvocation,
  projectRefresh: string | undefined,
): { level: "error" | "warning"; message: string } | undefined {
  if (inv.command === undefined || refreshes(inv, projectRefresh)) return undefined;
  const how =
    inv.refresh !== undefined
      ? `pulumi ${inv.command} --refresh=${inv.refresh} skips refresh`
      : `Pulumi.yaml: options.refresh is ${projectRefresh === undefined ? "unset" : JSON.stringify(projectRefresh)}, so pulumi ${inv.command} does not refresh`;
  const fix =
    inv.refresh !== undefined
      ? `run it without --refresh=${inv.refresh} (Pulumi.yaml sets options.refresh: always)`
      : "set `options: refresh: always` in Pulumi.yaml, or pass --refresh";
  if (inv.command === "preview") {
    return {
      level: "warning",
      message: `${how}: this diff is against the state's memory of live traffic, not live traffic; ${fix}`,
    };
  }
  return {
    level: "error",
    message:
      `${how}: each Cloud Run service would be sent back the traffic its state remembers, which can move ` +
      `users to an older revision before any gate runs (docs/safe-release.md); nothing was registered. ${fix[0]!.toUpperCase()}${fix.slice(1)}`,
  };
}
