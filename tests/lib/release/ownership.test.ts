/** Whether a release step's update still runs: its ancestors up to the pulumi CLI, read from /proc. */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { cliCommandLine, parseProcStat, updateAncestry, watchUpdate } from "../../../lib/release/ownership";

type Proc = { pid: number; ppid: number; comm: string; start: string };
const table = (rows: Proc[]) => {
  const byPid = new Map(rows.map((r) => [r.pid, r]));
  return (pid: number) => byPid.get(pid);
};
// step (tsx) → sh → command provider (node) → pulumi → bash
const tree: Proc[] = [
  { pid: 50, ppid: 40, comm: "node", start: "900" },
  { pid: 40, ppid: 30, comm: "sh", start: "800" },
  { pid: 30, ppid: 20, comm: "node", start: "700" },
  { pid: 20, ppid: 10, comm: "pulumi", start: "600" },
  { pid: 10, ppid: 1, comm: "bash", start: "100" },
];

describe("the update a step belongs to", () => {
  it("reads proc(5) stat lines, command names with spaces and parentheses included", () => {
    expect(
      parseProcStat("812 (tsx (x) y) S 811 812 812 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0"),
    ).toEqual({
      comm: "tsx (x) y",
      state: "S",
      ppid: 811,
      start: "4242",
    });
  });

  it("watches its ancestors up to and including the pulumi CLI, not above", () => {
    expect(updateAncestry(50, table(tree)).map((p) => p.pid)).toEqual([50, 40, 30, 20]);
  });

  it("watches nothing when run by hand (no pulumi among its ancestors)", () => {
    const byHand = tree.map((p) => (p.comm === "pulumi" ? { ...p, comm: "zsh" } : p));
    expect(updateAncestry(50, table(byHand))).toEqual([]);
    expect(watchUpdate(table(byHand), updateAncestry(50, table(byHand))).watched).toBe(0);
  });

  it("says the update is gone once the CLI has exited, or its PID was taken by another program", async () => {
    const live = [...tree];
    const read = (pid: number) => live.find((p) => p.pid === pid);
    const watch = watchUpdate(read, updateAncestry(50, read));
    expect(await watch.gone()).toBeUndefined();
    live.splice(3, 1, { pid: 20, ppid: 1, comm: "pulumi", start: "999" });
    expect(await watch.gone()).toBe("the pulumi CLI (pid 20) has exited");
    live.splice(3, 1);
    expect(await watch.gone()).toBe("the pulumi CLI (pid 20) has exited");
  });

  it("takes a zombie for an exit, and a system that cannot say for no answer", async () => {
    const live: (Proc & { state?: string })[] = tree.map((p) => ({ ...p, state: "S" }));
    let unknown = false;
    const read = (pid: number) => (unknown ? ("unknown" as const) : live.find((p) => p.pid === pid));
    const watch = watchUpdate(read, updateAncestry(50, read));
    unknown = true;
    expect(await watch.gone()).toBeUndefined();
    unknown = false;
    live[3] = { ...live[3]!, state: "Z" };
    expect(await watch.gone()).toBe("the pulumi CLI (pid 20) has exited");
  });

  it("reads this machine's real process table: the CLI's command line, and a CLI that exits is seen gone", async () => {
    // A shell under the CLI's name (comm comes from the executable's file name), with a child.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-owner-"));
    fs.copyFileSync("/bin/bash", path.join(dir, "pulumi"));
    fs.chmodSync(path.join(dir, "pulumi"), 0o755);
    const cli = spawn(path.join(dir, "pulumi"), ["-c", "sleep 30 & echo $!; wait"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const step = Number(
      await new Promise<string>((r) => cli.stdout.once("data", (d) => r(String(d).trim()))),
    );
    // `$!` is known as soon as the shell forks: wait for the child to be `sleep` itself.
    for (let i = 0; i < 100 && fs.readFileSync(`/proc/${step}/comm`, "utf8").trim() !== "sleep"; i++)
      await new Promise((r) => setTimeout(r, 20));
    const chain = updateAncestry(step);
    expect(chain.map((p) => [p.pid, p.comm])).toEqual([
      [step, "sleep"],
      [cli.pid, "pulumi"],
    ]);
    // The CLI's own command line, word for word (what lib/refresh.ts reads the --refresh flag from).
    expect(cliCommandLine(undefined, step)).toEqual([
      path.join(dir, "pulumi"),
      "-c",
      "sleep 30 & echo $!; wait",
    ]);
    const watch = watchUpdate(undefined, chain);
    expect(await watch.gone()).toBeUndefined();
    cli.kill("SIGKILL");
    await new Promise((r) => cli.once("exit", r));
    expect(await watch.gone()).toBe(`the pulumi CLI (pid ${cli.pid}) has exited`);
    process.kill(step, "SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
