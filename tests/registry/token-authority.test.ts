/**
 * A token server that decides who may do what (tools/local-registry.ts `authority`), as the
 * real-engine suite's Artifact Registry and ECR stand-ins use it: an owner pushes and pulls, a
 * consumer granted read only pulls, anyone else gets nothing. Distribution enforces the granted
 * actions itself, so a push with a pull-only token is refused by the registry, not by us.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../lib/registry/client";
import { verifyImage } from "../../lib/registry/verify";
import { pushWithClient } from "../../tools/image-fixtures";
import { startRegistry, type LocalRegistry } from "../../tools/local-registry";

const as = (username: string) => ({ username, password: `${username}-password` });
let registry: LocalRegistry;

beforeAll(async () => {
  registry = await startRegistry({
    auth: "token",
    authority: {
      subject: (username, password) => (password === `${username}-password` ? username : undefined),
      allowed: (subject, repository, actions) =>
        subject === "owner" && repository.startsWith("team/")
          ? actions
          : subject === "consumer"
            ? actions.filter((a) => a === "pull")
            : [],
    },
  });
}, 60_000);
afterAll(() => registry?.stop());

const push = (client: RegistryClient, repo: string) => pushWithClient(client, repo);

describe("a token server with an authority", () => {
  it("lets the owner push, a consumer pull but not push, and a stranger neither", async () => {
    const owner = new RegistryClient(registry.host, { credentials: as("owner"), plainHttp: true });
    const digest = await push(owner, "team/api");
    const verified = await verifyImage({
      ref: `${registry.host}/team/api@${digest}`,
      platform: "linux/amd64",
      credentials: as("consumer"),
      plainHttp: true,
    });
    expect(verified.digest).toBe(digest);
    const consumer = new RegistryClient(registry.host, { credentials: as("consumer"), plainHttp: true });
    await expect(push(consumer, "team/api")).rejects.toThrow(/401|403|denied|unauthorized/i);
    await expect(
      verifyImage({
        ref: `${registry.host}/team/api@${digest}`,
        platform: "linux/amd64",
        credentials: as("stranger"),
        plainHttp: true,
      }),
    ).rejects.toThrow(/401|403|denied|unauthorized/i);
  });
});
