/**
 * Registry tokens from the deployer's ambient identity, through each cloud's own SDK (loaded only when
 * used): what the steps and the program's promotion check log in with (lib/registry/login.ts).
 */
import { UserError } from "../errors";
import type { TokenSources } from "./login";

/** Tokens from the deployer's ambient identity, through each cloud's own SDK (loaded only when used). */
export const ambientTokenSources: TokenSources = {
  async gcpAccessToken() {
    const { GoogleAuth } = await import("google-auth-library");
    const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
    const token = await auth.getAccessToken();
    if (!token) throw new UserError("Application Default Credentials gave no access token", []);
    return token;
  },
  async ecrAuthorizationToken(region, registryId) {
    const { ECRClient, GetAuthorizationTokenCommand } = await import("@aws-sdk/client-ecr");
    const out = await new ECRClient({ region }).send(
      new GetAuthorizationTokenCommand({ registryIds: [registryId] }),
    );
    const token = out.authorizationData?.[0]?.authorizationToken;
    if (!token) throw new UserError(`ECR gave no authorization token for registry ${registryId}`, []);
    return token;
  },
};
