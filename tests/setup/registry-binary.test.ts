/**
 * README's second command on a fresh machine: the registry tests obtain their registry by themselves.
 * With the system `docker-registry` hidden (REGISTRY_BIN pointing nowhere) and PATH holding nothing but
 * Go and Node (no htpasswd, no openssl), a real registry still starts and serves Basic and token auth;
 * without Go either, the set-up stops at once with the one command to run.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  DISTRIBUTION_MODULE,
  DISTRIBUTION_VERSION,
  builtRegistry,
  registryBinary,
} from "../../tools/registry-binary";
import { PROJECT_DIR as REPO_ROOT } from "../../plan/run";

const which = (bin: string) =>
  spawnSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" }).stdout.trim();

describe("the tests' registry on a fresh machine", () => {
  it("takes the system registry when it is there", () => {
    const fake = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mcd-bin-")), "docker-registry");
    fs.writeFileSync(fake, "");
    expect(registryBinary({ ...process.env, REGISTRY_BIN: fake })).toBe(fake);
  });

  it(
    "with the system registry hidden and no htpasswd or openssl, builds (once) or reuses distribution from Go modules, and it serves both auth modes",
    () => {
      const go = which("go");
      expect(go, "Go is on this machine's PATH (the polyglot image ships it)").not.toBe("");
      // Only Go and Node: the tools the registry set-up used to need are not reachable.
      const bin = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-path-"));
      fs.symlinkSync(fs.realpathSync(go), path.join(bin, "go"));
      fs.symlinkSync(process.execPath, path.join(bin, "node"));
      const PATH = bin;
      const env = { ...process.env, REGISTRY_BIN: "/nonexistent/docker-registry", PATH };
      for (const tool of ["htpasswd", "openssl", "docker-registry"]) {
        expect(spawnSync("/bin/sh", ["-c", `command -v ${tool}`], { env }).status, tool).not.toBe(0);
      }
      expect(registryBinary(env)).toBe(builtRegistry(env));
      // The same set-up the registry tests run, in a child with that environment: both auth modes answer.
      const r = spawnSync(
        path.join(REPO_ROOT, "node_modules/.bin/tsx"),
        [
          "-e",
          `import { startRegistry } from "${path.join(REPO_ROOT, "tools/local-registry.ts")}";
           (async () => {
             for (const auth of ["htpasswd", "token"]) {
               const r = await startRegistry(auth);
               const res = await fetch("http://" + r.host + "/v2/");
               console.log(auth, res.status, res.headers.get("www-authenticate"));
               r.stop();
             }
           })();`,
        ],
        { env, encoding: "utf8", timeout: 120_000 },
      );
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(
        /^htpasswd 401 Basic realm="test-registry"\ntoken 401 Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token"/,
      );
    },
    20 * 60_000,
  );

  it("without Go either, stops at once with the command to run", () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-cache-"));
    const env = {
      REGISTRY_BIN: "/nonexistent/docker-registry",
      PATH: "/nonexistent",
      MULTICLOUD_TOOLCHAIN: cache,
    };
    const started = Date.now();
    expect(() => registryBinary(env)).toThrow(
      `no registry for the tests: /nonexistent/docker-registry not found, and Go is not on PATH to build one. ` +
        "Run `apt-get install docker-registry` (as root), or install Go and run the tests again " +
        `(they build ${DISTRIBUTION_MODULE}@${DISTRIBUTION_VERSION} into ${cache}/bin once)`,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
