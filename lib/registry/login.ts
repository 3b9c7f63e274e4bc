/**
 * How a step that runs during `pulumi up` (verify-image, promote-image) logs in to a registry.
 *
 * The step's inputs carry only a description of where its credentials come from, never the
 * credentials: registry tokens rotate (Google access tokens hourly, ECR's every 12 hours), and a
 * token among a Command's inputs makes every `pulumi preview` show the step as changing and every
 * `pulumi up` run it again. The step obtains a short-lived token at run time, from the deployer's
 * ambient identity (the same one `pulumi up` runs as):
 *
 * - `gcp`: an OAuth access token from Application Default Credentials (workload identity
 *   federation in Pulumi Deployments and GitHub Actions, `gcloud auth application-default login`
 *   on a laptop); the user name is `oauth2accesstoken`, as Artifact Registry expects.
 * - `ecr`: `GetAuthorizationToken` for the registry's account, with the AWS SDK's default credential
 *   chain; the token decodes to `AWS:<password>`.
 * - `env`: a user name and password from the deployer's environment (any other registry; the e2e
 *   suite's local one), by variable name.
 * - `none`: anonymous.
 */
import { z } from "zod";
import { AWS_REGION_PATTERN } from "../config/cloud-ids";
import type { Credentials } from "./client";

export const registryLoginSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("gcp") }),
  z.strictObject({
    kind: z.literal("ecr"),
    region: z.string().regex(AWS_REGION_PATTERN),
    registryId: z.string().regex(/^\d{12}$/),
  }),
  z.strictObject({
    kind: z.literal("env"),
    usernameVar: z.string().regex(/^[A-Z_][A-Z0-9_]*$/),
    passwordVar: z.string().regex(/^[A-Z_][A-Z0-9_]*$/),
  }),
  z.strictObject({ kind: z.literal("none") }),
]);
export type RegistryLogin = z.infer<typeof registryLoginSchema>;

/** The environment variable a step reads its login description from (`SOURCE_` for promotion sources). */
export const LOGIN_VAR = "REGISTRY_LOGIN";
export const SOURCE_LOGIN_VAR = "SOURCE_REGISTRY_LOGIN";

/** Stable text for a Command's environment: the same login always encodes the same way. */
export function encodeLogin(login: RegistryLogin): string {
  const parsed = registryLoginSchema.parse(login);
  return JSON.stringify(parsed, Object.keys(parsed).sort());
}

export function parseLogin(text: string, variable = LOGIN_VAR): RegistryLogin {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${variable} is not JSON: expected e.g. {"kind":"gcp"}`);
  }
  const parsed = registryLoginSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      // The text is not echoed: a mistaken value could be a token.
      `${variable} is not a registry login: expected {"kind":"gcp"}, {"kind":"ecr","region":…,"registryId":…}, ` +
        `{"kind":"env","usernameVar":…,"passwordVar":…} or {"kind":"none"}`,
    );
  }
  return parsed.data;
}

/** What obtains tokens from the ambient identity; injected so tests need no cloud. */
export interface TokenSources {
  gcpAccessToken(): Promise<string>;
  ecrAuthorizationToken(region: string, registryId: string): Promise<string>;
}

export async function resolveCredentials(
  login: RegistryLogin,
  env: Record<string, string | undefined>,
  sources: TokenSources,
): Promise<Credentials | undefined> {
  switch (login.kind) {
    case "none":
      return undefined;
    case "gcp":
      return { username: "oauth2accesstoken", password: await sources.gcpAccessToken() };
    case "ecr": {
      const decoded = Buffer.from(
        await sources.ecrAuthorizationToken(login.region, login.registryId),
        "base64",
      ).toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon < 0) throw new Error("ECR returned an authorization token that is not <user>:<password>");
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    case "env": {
      const username = env[login.usernameVar];
      const password = env[login.passwordVar];
      if (!username || !password) {
        throw new Error(
          `registry credentials: set ${login.usernameVar} and ${login.passwordVar} in the environment \`pulumi up\` runs in`,
        );
      }
      return { username, password };
    }
  }
}
