/**
 * The CLIs `pulumi up` runs (through local.Command), as processes against the real registry: exit
 * codes, credentials from the environment only, and messages on stderr.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { PROJECT_DIR } from "../../plan/run";
import { pushImage, type RegistryTarget, requireRegistry } from "../../tools/image-fixtures";

let t: RegistryTarget;
beforeAll(() => {
  t = requireRegistry(inject("registry"));
});

function cli(script: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      path.join(PROJECT_DIR, "node_modules/.bin/tsx"),
      [`scripts/${script}.ts`, ...args],
      { cwd: PROJECT_DIR, env: { PATH: process.env.PATH, ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
const creds = () => ({ REGISTRY_USERNAME: t.username, REGISTRY_PASSWORD: t.password });

describe("verify-image and promote-image as processes", () => {
  it("verify-image exits 0 and tags a good image, 1 with the reason for a wrong platform, 2 on usage", async () => {
    const { digest } = await pushImage(t, "cli/app", { architecture: "arm64" });
    const ref = `${t.host}/cli/app@${digest}`;
    const ok = await cli(
      "verify-image",
      [ref, "--platform", "linux/arm64", "--tag", `${"a".repeat(40)}-arm64-1`],
      creds(),
    );
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toMatch(
      new RegExp(`^verified ${ref.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: .*tag a{40}-arm64-1 created`),
    );

    const wrong = await cli("verify-image", [ref, "--platform", "linux/amd64"], creds());
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`verify-image: image ${ref} failed verification; it was not deployed`);
    expect(wrong.stderr).toContain("image is built for linux/arm64 but linux/amd64 was asked for");

    expect((await cli("verify-image", [ref, "--platform", "windows/amd64"])).code).toBe(2);
  });

  it("promote-image copies with credentials from the environment, and fails clearly without them", async () => {
    const { digest } = await pushImage(t, "cli/staging", { architecture: "amd64" });
    const args = [`${t.host}/cli/staging@${digest}`, `${t.host}/cli/prod`];
    const denied = await cli("promote-image", args);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^promote-image: 127\.0\.0\.1:\d+ refused GET manifest/);
    const ok = await cli("promote-image", args, {
      ...creds(),
      SOURCE_REGISTRY_USERNAME: t.username,
      SOURCE_REGISTRY_PASSWORD: t.password,
    });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`promoted ${t.host}/cli/prod@${digest}: 2 blobs`);
  });
});
