/** Whether the running `pulumi` command refreshes first, read as the CLI reads it (lib/refresh.ts). */
import { describe, expect, it } from "vitest";
import { checkRefresh } from "../../program";
import { parsePulumiArgs, refreshes, staleStateProblem } from "../../lib/refresh";

const cli = (...args: string[]) => ["/usr/local/bin/pulumi", ...args];

describe("parsePulumiArgs", () => {
  it.each([
    [["up", "--yes"], { command: "up" }],
    [["--stack", "prod", "update", "--refresh=false"], { command: "up", refresh: "false" }],
    [["up", "--refresh"], { command: "up", refresh: "true" }],
    // A bare --refresh never takes the next word (NoOptDefVal "true", up.go): `false` is an argument.
    [["up", "--refresh", "false"], { command: "up", refresh: "true" }],
    [["up", "-r=0"], { command: "up", refresh: "0" }],
    [["up", "-yfr"], { command: "up", refresh: "true" }],
    [["up", "-yr=false"], { command: "up", refresh: "false" }],
    // `-s` takes the rest of its group as its value: the `r` in `-sprod-r` is the stack's name.
    [["up", "-sprod-r"], { command: "up" }],
    // The last one wins; `--` ends the flags.
    [["pre", "--refresh=false", "--refresh"], { command: "preview", refresh: "true" }],
    [["up", "--", "--refresh=false"], { command: "up" }],
    [["refresh", "--yes"], {}],
    // `pulumi watch` updates on every change, and refreshes only when told to.
    [["watch"], { command: "watch" }],
  ])("%j", (args, expected) => {
    expect(parsePulumiArgs(cli(...args))).toEqual(expected);
  });
});

describe("refreshes, as GetRefreshOption decides (pkg/cmd/pulumi/operations/io.go)", () => {
  it("an explicit flag wins over Pulumi.yaml; without one, only options.refresh: always refreshes", () => {
    expect(refreshes({ command: "up", refresh: "false" }, "always")).toBe(false);
    expect(refreshes({ command: "up", refresh: "F" }, "always")).toBe(false);
    expect(refreshes({ command: "up", refresh: "true" }, undefined)).toBe(true);
    expect(refreshes({ command: "up" }, "always")).toBe(true);
    expect(refreshes({ command: "up" }, "never")).toBe(false);
    expect(refreshes({ command: "up" }, undefined)).toBe(false);
  });
});

describe("staleStateProblem and checkRefresh", () => {
  const yaml = (refresh?: string) => () =>
    refresh ? `name: x\noptions:\n  refresh: ${refresh}\n` : "name: x\n";

  it("refuses `pulumi up --refresh=false` before anything is registered, with the reason and the fix", () => {
    expect(() => checkRefresh(cli("up", "--refresh=false"), yaml("always"))).toThrow(
      "pulumi up --refresh=false skips refresh: each Cloud Run service would be sent back the traffic its state remembers, which can move users to an older revision before any gate runs (docs/safe-release.md); nothing was registered. Run it without --refresh=false (Pulumi.yaml sets options.refresh: always)",
    );
  });

  it("refuses an update whose Pulumi.yaml does not refresh, naming the file and the key", () => {
    expect(staleStateProblem({ command: "up" }, undefined)).toEqual({
      level: "error",
      message: expect.stringMatching(
        /^Pulumi\.yaml: options\.refresh is unset, so pulumi up does not refresh: .* Set `options: refresh: always` in Pulumi\.yaml, or pass --refresh$/,
      ),
    });
  });

  it("refuses `pulumi watch` without refresh, as an update", () => {
    expect(staleStateProblem({ command: "watch", refresh: "false" }, "always")?.level).toBe("error");
  });

  it("lets a refreshing update, another command and a program with no CLI above it through", () => {
    expect(() => checkRefresh(cli("up", "--yes"), yaml("always"))).not.toThrow();
    expect(() => checkRefresh(cli("up", "--refresh"), yaml())).not.toThrow();
    expect(() => checkRefresh(cli("destroy", "--refresh=false"), yaml("always"))).not.toThrow();
    expect(() =>
      checkRefresh(undefined, () => {
        throw new Error("not read");
      }),
    ).not.toThrow();
  });

  it("warns, not refuses, a preview without refresh: it moves nothing, but its diff is against old state", () => {
    expect(staleStateProblem({ command: "preview", refresh: "false" }, "always")).toEqual({
      level: "warning",
      message:
        "pulumi preview --refresh=false skips refresh: this diff is against the state's memory of live traffic, not live traffic; run it without --refresh=false (Pulumi.yaml sets options.refresh: always)",
    });
  });
});
