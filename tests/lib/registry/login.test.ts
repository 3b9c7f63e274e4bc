/** Registry logins: what the verify and promote steps carry (a description) and how they turn it into credentials. */
import { describe, expect, it } from "vitest";
import { encodeLogin, parseLogin, resolveCredentials, type TokenSources } from "../../../lib/registry/login";

const calls: string[] = [];
const sources: TokenSources = {
  async gcpAccessToken() {
    calls.push("gcp");
    return "ya29.fresh";
  },
  async ecrAuthorizationToken(region, registryId) {
    calls.push(`ecr ${region} ${registryId}`);
    return Buffer.from("AWS:ecr-password:with-colon").toString("base64");
  },
};

describe("registry logins", () => {
  it("encode the same login the same way whatever the key order, so a Command's inputs never change", () => {
    expect(encodeLogin({ registryId: "111111111111", region: "us-east-1", kind: "ecr" } as never)).toBe(
      '{"kind":"ecr","region":"us-east-1","registryId":"111111111111"}',
    );
    expect(parseLogin(encodeLogin({ kind: "gcp" }))).toEqual({ kind: "gcp" });
  });

  it("obtain a token at run time from the ambient identity", async () => {
    calls.length = 0;
    expect(await resolveCredentials({ kind: "gcp" }, {}, sources)).toEqual({
      username: "oauth2accesstoken",
      password: "ya29.fresh",
    });
    expect(
      await resolveCredentials({ kind: "ecr", region: "eu-west-1", registryId: "222222222222" }, {}, sources),
    ).toEqual({ username: "AWS", password: "ecr-password:with-colon" });
    expect(calls).toEqual(["gcp", "ecr eu-west-1 222222222222"]);
  });

  it("read env credentials by variable name, and say which variables are missing", async () => {
    const login = { kind: "env", usernameVar: "E2E_USER", passwordVar: "E2E_PASSWORD" } as const;
    expect(await resolveCredentials(login, { E2E_USER: "ci", E2E_PASSWORD: "pw" }, sources)).toEqual({
      username: "ci",
      password: "pw",
    });
    await expect(resolveCredentials(login, { E2E_USER: "ci" }, sources)).rejects.toThrow(
      "registry credentials: set E2E_USER and E2E_PASSWORD in the environment `pulumi up` runs in",
    );
    expect(await resolveCredentials({ kind: "none" }, {}, sources)).toBeUndefined();
  });

  it.each([
    ["not JSON", "gcp", 'REGISTRY_LOGIN is not JSON: expected e.g. {"kind":"gcp"}'],
    ["an unknown kind", '{"kind":"docker"}', "REGISTRY_LOGIN is not a registry login"],
    ["a token where none belongs", '{"kind":"gcp","token":"ya29.x"}', "is not a registry login"],
    [
      "a malformed account",
      '{"kind":"ecr","region":"us-east-1","registryId":"prod"}',
      "is not a registry login",
    ],
  ])("refuse %s, without echoing it", (_what, text, message) => {
    expect(() => parseLogin(text)).toThrow(message);
    expect(() => parseLogin(text)).not.toThrow("ya29");
  });
});
