/**
 * The credential endpoints the suites' clients reach:
 * - Google's OAuth token endpoint (`POST /token`, oauth2.googleapis.com): an access token for any
 *   refresh-token grant, which is what google-auth-library's `authorized_user` credentials ask for.
 *   Each grant gets a new token (Google's are short-lived too); `googlePrincipal(token)` says whose
 *   refresh token it was, which the stand-in Artifact Registry asks.
 * - ECR's `GetAuthorizationToken` (`POST /` on api.ecr.<region>.amazonaws.com, awsJson1_1 with
 *   `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken`): for each registry
 *   asked (`registryIds`, else the caller's own), a token that decodes to `AWS:<password>` and the
 *   registry's `proxyEndpoint`. The caller's account comes from the access key id in the SigV4
 *   `Authorization` header (`Credential=<key id>/…`, `accounts`); the signature is not checked. As in
 *   ECR, the token is the caller's, valid on any registry its account may use; `ecrAccount(password)`
 *   says whose it is, which the stand-in ECR registries ask.
 */
import type * as http from "node:http";
import { googleError } from "./cloud-run";
import type { JsonBody, Reply } from "./http";

/** The bearer token of a Google API request (`Authorization: Bearer <token>`), or "". */
export function bearerToken(req: { headers: Record<string, unknown> }): string {
  return /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ""))?.[1] ?? "";
}

/** Whether a principal is one of a project's own service accounts (`…@<project>.iam.gserviceaccount.com`). */
export function ofProject(principal: string, project: string): boolean {
  return principal.split("@")[1]?.split(".").includes(project) ?? false;
}

/**
 * IAM's refusal of a Google API call: 403 `PERMISSION_DENIED`, "Permission '<permission>' denied on
 * resource '<resource>' (or it may not exist).", the same for a resource that does not exist, so a
 * caller learns nothing about what it may not use (the text Cloud KMS, Container Analysis and Binary
 * Authorization give alike).
 */
export function googleDenied(reply: Reply, permission: string, resource: string): true {
  reply(
    403,
    googleError(
      403,
      `Permission '${permission}' denied on resource '${resource}' (or it may not exist).`,
      "PERMISSION_DENIED",
    ),
  );
  return true;
}

/**
 * IAM's refusal of an AWS API call (awsJson1_1): 400 `AccessDeniedException`, "User: <arn> is not
 * authorized to perform: <action> on resource: <arn>" (the form AWS APIs answer in; the caller's
 * ARN here is the suite's deployer role).
 */
export function awsDenied(reply: Reply, account: string | undefined, action: string, resource: string): true {
  reply(
    400,
    {
      __type: "AccessDeniedException",
      message: `User: arn:aws:sts::${account ?? "unknown"}:assumed-role/deployer is not authorized to perform: ${action} on resource: ${resource}`,
    },
    { "content-type": "application/x-amz-json-1.1" },
  );
  return true;
}

export class Credentials {
  /** Access tokens issued → the refresh token they were issued for. */
  private googleTokens = new Map<string, string>();
  /** ECR passwords issued → the account of the caller they were issued to. */
  private ecrPasswords = new Map<string, string>();

  constructor(private readonly accounts: Record<string, string> = {}) {}

  googlePrincipal(accessToken: string): string | undefined {
    return this.googleTokens.get(accessToken);
  }

  /** The account an access key id belongs to (what SigV4's `Credential=` names). */
  awsAccount(accessKeyId: string): string | undefined {
    return this.accounts[accessKeyId];
  }

  ecrAccount(password: string): string | undefined {
    return this.ecrPasswords.get(password);
  }

  /** An access token for a refresh token, as the token endpoint issues it. */
  googleToken(refreshToken: string): string {
    const token = `ya29.fake-${this.googleTokens.size + 1}-${Math.random().toString(36).slice(2)}`;
    this.googleTokens.set(token, refreshToken);
    return token;
  }

  /** An ECR password for an account, as GetAuthorizationToken issues it. */
  ecrPassword(account: string): string {
    const password = `ecr-${account}-${this.ecrPasswords.size + 1}-${Math.random().toString(36).slice(2)}`;
    this.ecrPasswords.set(password, account);
    return password;
  }

  handle(req: http.IncomingMessage, path: string, raw: string, body: JsonBody, reply: Reply): boolean {
    if (path === "/token" && req.method === "POST") {
      const token = this.googleToken(new URLSearchParams(raw).get("refresh_token") ?? "");
      reply(200, { access_token: token, expires_in: 3600, token_type: "Bearer" });
      return true;
    }
    const target = String(req.headers["x-amz-target"] ?? "");
    if (target !== "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" || req.method !== "POST")
      return false;
    const json = { "content-type": "application/x-amz-json-1.1" };
    const keyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ""))?.[1] ?? "";
    const region = /^api\.ecr\.([a-z0-9-]+)\.amazonaws\.com/.exec(String(req.headers.host ?? ""))?.[1];
    const account = this.accounts[keyId];
    if (!account || !region) {
      reply(
        400,
        {
          __type: "UnrecognizedClientException",
          message: "The security token included in the request is invalid.",
        },
        json,
      );
      return true;
    }
    const registries = (body.registryIds as string[] | undefined) ?? [account];
    const expiresAt = Math.floor(Date.now() / 1000) + 12 * 3600;
    reply(
      200,
      {
        authorizationData: registries.map((registryId) => {
          const password = this.ecrPassword(account);
          return {
            authorizationToken: Buffer.from(`AWS:${password}`).toString("base64"),
            expiresAt,
            proxyEndpoint: `https://${registryId}.dkr.ecr.${region}.amazonaws.com`,
          };
        }),
      },
      json,
    );
    return true;
  }
}
