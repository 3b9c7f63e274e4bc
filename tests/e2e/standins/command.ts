/**
 * A stand-in for the `command` provider plugin (pulumi-resource-command 1.2.1), for the e2e suite
 * only: the Go module proxy these machines use serves no github.com/pulumi/pulumi-command/provider,
 * so the real plugin cannot be built here. It implements the one resource the program uses,
 * `command:local:Command`, the way the real provider does (pulumi-command v1.2.1, provider/pkg/provider):
 *
 * - `create` runs through `/bin/sh -c` in the program's directory, with the provider's environment
 *   plus `environment` (local/commandOutputs.go `run`); stdout and stderr become outputs, stdout
 *   without its trailing newline; a non-zero exit fails with `exit status N: running "<cmd>"`.
 * - A change of `triggers` replaces the resource (common/inputs.go: `provider:"replaceOnChanges"`);
 *   any other input change is an update, which runs `update`, else `create` (local/commandController.go).
 * - `delete` runs the `delete` command if there is one. Nothing runs in a preview (the engine does not
 *   call a provider that does not support previews, and the real one skips running in a dry run).
 * - `logging` chooses what reaches the engine's log: stdout, stderr, both (default) or none. Output is
 *   logged a whole line at a time (`util.LogOutput` scans lines and sends each to the engine's Log
 *   RPC, `p.GetLogger(ctx).InfoStatus`); here a line goes to this process's stderr, which the engine
 *   shows in its log too.
 *
 * When the engine goes away (`kill -9` of the CLI), the real provider, read in pulumi-command v1.2.1,
 * pulumi-go-provider v1.3.0 and pulumi sdk v3.224.0 (the versions its go.mod pins), does this, and so
 * does this stand-in:
 * 1. The CLI's connection closes; grpc-go's `HandleStreams` sees the read fail and cancels every
 *    running request's context (`Close` → `s.cancel()`). No Cancel RPC comes: the engine sends one
 *    only after SIGINT or SIGTERM. Here: a probe of the engine's address (the plugin's first argument)
 *    every 250 ms stands for that connection; it fails once the CLI is gone.
 * 2. The command was started with `exec.CommandContext(ctx, "/bin/sh", "-c", …)` in the provider's
 *    own process group (no Setpgid), so the cancelled context runs Go's default Cancel,
 *    `cmd.Process.Kill()`: SIGKILL to `sh` alone. Its children (tsx, then node) live on.
 * 3. With no WaitDelay, the provider keeps reading both pipes to EOF (os/exec `Cmd.Wait`: "might not
 *    occur until orphaned subprocesses of the command have also closed their descriptors").
 * 4. On the next whole logged line, the Log RPC fails (its context is cancelled) and the provider
 *    falls back to `slog.Default()`, its own stderr, a pipe to the dead CLI: Go raises SIGPIPE on a
 *    write to a broken fd 2 (os/file_unix.go `epipecheck`), and the provider dies (exit 141). Here: the
 *    fallback write's EPIPE ends the process with 141. A runner that keeps the pipe open keeps it alive,
 *    as it would the real one.
 * 5. Its death closes the orphaned step's stdout and stderr: the step's next write fails (EPIPE).
 *    Whether that ends the step is the step's own business (scripts/release.ts keeps running).
 *
 * Installed as a plugin only into the e2e suite's PULUMI_HOME (tests/e2e/env.ts); never used by `pulumi up`
 * anywhere else.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as net from "node:net";
import { isDeepStrictEqual } from "node:util";
import * as provider from "@pulumi/pulumi/provider";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
type Props = Record<string, unknown>;

/** The engine hands secrets over wrapped (`{ <sig>: <secret sig>, value }`); the command needs the value. */
function plain(v: unknown): unknown {
  if (v && typeof v === "object" && SECRET_SIG in (v as Props)) return plain((v as Props).value);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const INPUTS = [
  "create",
  "update",
  "delete",
  "environment",
  "triggers",
  "logging",
  "dir",
  "interpreter",
  "stdin",
  "addPreviousOutputInEnv",
];

/** Whether the engine (the CLI) still answers on its address; see the header, step 1. */
let engineGone = false;
const running = new Set<ChildProcess>();

function watchEngine(address: string | undefined): void {
  const m = address ? /^(.*):(\d+)$/.exec(address) : null;
  if (!m) return;
  const probe = () => {
    const socket = net.connect({ host: m[1] === "" ? "127.0.0.1" : m[1]!, port: Number(m[2]) });
    socket.once("connect", () => socket.destroy());
    socket.once("error", () => {
      if (engineGone) return;
      engineGone = true;
      // Step 2: the cancelled context kills `sh` alone.
      for (const child of running) child.kill("SIGKILL");
    });
  };
  setInterval(probe, 250).unref();
}

/** Step 4: a line for the engine's log; with the engine gone, the fallback write, fatal on EPIPE. */
function logLine(line: string): void {
  process.stderr.write(`${line}\n`, (err) => {
    if (err && engineGone) process.exit(141);
  });
}

/** Whole lines of a stream, each handed to `each`; the last partial line at the end. */
function lines(each: (line: string) => void) {
  let partial = "";
  return {
    push(d: Buffer) {
      const text = partial + d.toString("utf8");
      const parts = text.split("\n");
      partial = parts.pop()!;
      for (const p of parts) each(p);
    },
    end() {
      if (partial) each(partial);
      partial = "";
    },
  };
}

async function run(
  command: string,
  inputs: Props,
  previous?: Props,
): Promise<{ stdout: string; stderr: string }> {
  const p = plain(inputs) as {
    environment?: Record<string, string>;
    dir?: string;
    interpreter?: string[];
    stdin?: string;
    logging?: string;
    addPreviousOutputInEnv?: boolean;
  };
  const [bin, ...args] = p.interpreter ?? ["/bin/sh", "-c"];
  const env: Record<string, string | undefined> = { ...process.env, ...p.environment };
  if ((p.addPreviousOutputInEnv ?? true) && previous) {
    if (previous.stdout) env.PULUMI_COMMAND_STDOUT = String(previous.stdout);
    if (previous.stderr) env.PULUMI_COMMAND_STDERR = String(previous.stderr);
  }
  // stdin: the provider sets it only when `stdin` is given (else /dev/null, os/exec's default).
  const child = spawn(bin!, [...args, command], {
    cwd: p.dir ?? process.cwd(),
    env,
    stdio: [p.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  running.add(child);
  let stdout = "";
  let stderr = "";
  let both = "";
  const logging = p.logging ?? "stdoutAndStderr";
  const outLines = lines((l) => (logging === "stdout" || logging === "stdoutAndStderr") && logLine(l));
  const errLines = lines((l) => (logging === "stderr" || logging === "stdoutAndStderr") && logLine(l));
  child.stdout!.on("data", (d: Buffer) => {
    stdout += d;
    both += d;
    outLines.push(d);
  });
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d;
    both += d;
    errLines.push(d);
  });
  child.stdin?.end(p.stdin ?? "");
  // 'close' waits for both pipes to reach EOF, as Go's Wait does without a WaitDelay (step 3).
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.on("error", reject);
      child.on("close", (c, s) => resolve({ code: c, signal: s }));
    },
  ).finally(() => running.delete(child));
  outLines.end();
  errLines.end();
  if (signal)
    throw new Error(
      `signal: ${signal === "SIGKILL" ? "killed" : signal}: running ${JSON.stringify(command)}:\n${both}`,
    );
  if (code !== 0) throw new Error(`exit status ${code}: running ${JSON.stringify(command)}:\n${both}`);
  return { stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, "") };
}

const commandProvider: provider.Provider = {
  version: "1.2.1",
  async check(_urn, _olds, news) {
    return { inputs: news };
  },
  async diff(_id, _urn, olds: Props, news: Props) {
    const changed = INPUTS.filter((k) => !isDeepStrictEqual(olds[k], news[k]));
    return {
      changes: changed.length > 0,
      replaces: changed.includes("triggers") ? ["triggers"] : [],
      deleteBeforeReplace: false,
    };
  },
  async create(urn, inputs: Props) {
    const name = urn.split("::").pop()!;
    const id = `${name}${randomBytes(4).toString("hex")}`;
    const create = plain(inputs.create) as string | undefined;
    const out = create ? await run(create, inputs) : { stdout: "", stderr: "" };
    return { id, outs: { ...inputs, ...out } };
  },
  async update(_id, _urn, olds: Props, news: Props) {
    const cmd = (plain(news.update) ?? plain(news.create)) as string | undefined;
    const out = cmd ? await run(cmd, news, olds) : { stdout: olds.stdout, stderr: olds.stderr };
    return { outs: { ...news, ...out } };
  },
  async delete(_id, _urn, props: Props) {
    const cmd = plain(props.delete) as string | undefined;
    if (cmd) await run(cmd, props, props);
  },
};

// The engine's address as the SDK's provider main reads it (provider/internals.ts parseArgs).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parseArgs } = require("@pulumi/pulumi/provider/internals") as {
  parseArgs(args: string[]): { engineAddress: string } | undefined;
};
watchEngine(parseArgs(process.argv.slice(2))?.engineAddress);
void provider.main(commandProvider, process.argv.slice(2));
