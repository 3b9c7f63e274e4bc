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
 * - `logging` chooses what reaches the engine's log: stdout, stderr, both (default) or none.
 *
 * Installed as a plugin only into the e2e suite's PULUMI_HOME (tests/e2e/env.ts); never used by `pulumi up`
 * anywhere else.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
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
  if ((p.addPreviousOutputInEnv ?? true) && previous?.stdout)
    env.PULUMI_COMMAND_STDOUT = String(previous.stdout);
  const child = spawn(bin!, [...args, command], { cwd: p.dir ?? process.cwd(), env, stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  let both = "";
  const logging = p.logging ?? "stdoutAndStderr";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d;
    both += d;
    if (logging === "stdout" || logging === "stdoutAndStderr") process.stderr.write(d);
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d;
    both += d;
    if (logging === "stderr" || logging === "stdoutAndStderr") process.stderr.write(d);
  });
  child.stdin.end(p.stdin ?? "");
  const code = await new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (c) => resolve(c ?? 1));
  });
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

void provider.main(commandProvider, process.argv.slice(2));
