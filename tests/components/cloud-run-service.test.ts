/** CloudRunService: digest-pinned service, identity, secrets, probes, invokers, the release step. */
import { ANALYSIS_DEFAULTS } from "../../lib/release/analysis";
import { beforeAll, describe, expect, it } from "vitest";
import { planNotes } from "../../plan/report";
import { decodeReleaseStep } from "../../lib/release";
import { byName, ofType, runProgram, type ProgramRun } from "../../plan/run";
import { SHA, stacks } from "../harness/stacks";

/** The staging stack with `overrides` merged into its `multicloud-deploy:*` config. */
const stagingWith = (overrides: Record<string, unknown>) =>
  runProgram({ stack: "staging", commit: SHA, overrides });

const gateNotes = (run: ProgramRun) => planNotes(run).filter((n) => n.includes("no health gate"));

let staging: ProgramRun;
let prod: ProgramRun;
beforeAll(async () => {
  ({ staging, prod } = await stacks());
}, 60_000);

describe("CloudRunService", () => {
  it("runs the verified image by digest and depends on the verification", () => {
    const svc = byName(staging, "gcp:cloudrunv2/service:Service", "api");
    const verify = byName(staging, "command:local:Command", "api-verify");
    expect(svc.inputs.template.containers[0].image).toMatch(
      /^us-central1-docker\.pkg\.dev\/acme-apps-staging\/apps\/api@sha256:[0-9a-f]{64}$/,
    );
    expect(svc.dependencies).toContain(verify.urn);
    expect(svc.inputs).not.toHaveProperty("buildConfig");
    expect(svc.inputs.template.containers[0]).not.toHaveProperty("sourceCode");
  });

  it("runs as a dedicated service account that may read exactly its secrets, granted before the service", () => {
    const svc = byName(staging, "gcp:cloudrunv2/service:Service", "api");
    const sa = byName(staging, "gcp:serviceaccount/account:Account", "api-sa");
    expect(svc.inputs.template.serviceAccount).toBe(sa.outputs.email);
    const grants = ofType(staging, "gcp:secretmanager/secretIamMember:SecretIamMember");
    expect(grants.map((g) => [g.inputs.secretId, g.inputs.role, g.inputs.member])).toEqual([
      ["api-key", "roles/secretmanager.secretAccessor", `serviceAccount:${sa.outputs.email}`],
    ]);
    expect(svc.dependencies).toContain(grants[0].urn);
  });

  it("sets NODE_ENV, APP_VERSION and secret references, never secret values", () => {
    const envs = byName(staging, "gcp:cloudrunv2/service:Service", "api").inputs.template.containers[0].envs;
    expect(envs).toEqual([
      { name: "NODE_ENV", value: "staging" },
      { name: "APP_VERSION", value: SHA },
      { name: "LOG_LEVEL", value: "debug" },
      { name: "API_KEY", valueSource: { secretKeyRef: { secret: "api-key", version: "latest" } } },
    ]);
    expect(
      byName(prod, "gcp:cloudrunv2/service:Service", "api").inputs.template.containers[0].envs[3].valueSource
        .secretKeyRef.version,
    ).toBe("3");
  });

  it("probes the health path at startup and while live", () => {
    const c = byName(staging, "gcp:cloudrunv2/service:Service", "api").inputs.template.containers[0];
    expect(c.startupProbe.httpGet).toEqual({ path: "/health", port: 8080 });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/health", port: 8080 });
  });

  it("grants allUsers only to public services and the configured members to private ones", async () => {
    expect(
      ofType(staging, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember").map((g) => g.inputs.member),
    ).toEqual(["allUsers"]);
    const run = await stagingWith({
      services: {
        api: { exposure: "private", invokers: ["serviceAccount:caller@acme.iam.gserviceaccount.com"] },
      },
    });
    const grants = ofType(run, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember");
    expect(grants.map((g) => [g.name, g.inputs.member])).toEqual([
      [
        "api-invoker-serviceaccount-caller-acme-iam-gserviceaccount-com",
        "serviceAccount:caller@acme.iam.gserviceaccount.com",
      ],
    ]);
    // No identity to call a private service with: the release moves traffic without a gate.
    expect(decodeReleaseStep(byName(run, "command:local:Command", "api-release").inputs.create)?.gate).toBe(
      "none",
    );
  });

  it("has deletion protection in prod only", () => {
    expect(byName(prod, "gcp:cloudrunv2/service:Service", "api").inputs.deletionProtection).toBe(true);
    expect(byName(staging, "gcp:cloudrunv2/service:Service", "api").inputs.deletionProtection).toBe(false);
  });

  it("names each release's revision from the deployed commit and the template, the only traffic target at creation", () => {
    const svc = byName(staging, "gcp:cloudrunv2/service:Service", "api");
    const revision = svc.inputs.template.revision as string;
    // `<service>-<commit, 7>-<template hash, 5>`: Cloud Run wants the service name and "-" first.
    expect(revision).toMatch(new RegExp(`^api-${SHA.slice(0, 7)}-[0-9a-f]{5}$`));
    expect(svc.inputs.traffics).toEqual([
      { type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision, percent: 100 },
    ]);
    // After creation the release step owns traffic: this resource never re-sends a split of its own.
    expect(svc.ignoreChanges).toEqual(["traffics"]);
    // Prod runs the same image with other settings: another revision, at the same commit.
    const prodRevision = byName(prod, "gcp:cloudrunv2/service:Service", "api").inputs.template.revision;
    expect(prodRevision).toMatch(new RegExp(`^api-${SHA.slice(0, 7)}-[0-9a-f]{5}$`));
    expect(prodRevision).not.toBe(revision);
  });

  it("a changed env var makes a new revision name, the same settings the same one", async () => {
    const again = await stagingWith({ commitSha: SHA });
    const changed = await stagingWith({ commitSha: SHA, services: { api: { env: { LOG_LEVEL: "info" } } } });
    const revision = (r: ProgramRun) =>
      byName(r, "gcp:cloudrunv2/service:Service", "api").inputs.template.revision;
    expect(revision(again)).toBe(revision(staging));
    expect(revision(changed)).not.toBe(revision(staging));
  });

  it("a re-run after its revision failed to start asks for a fresh name, says why, and releases that one", async () => {
    const base = byName(staging, "gcp:cloudrunv2/service:Service", "api").inputs.template.revision as string;
    const full = "projects/acme-apps-staging/locations/us-central1/services/api";
    const rerun = (asked: string, latestReady: string) =>
      runProgram({ stack: "staging", commit: SHA, cloudRunServices: { [full]: { asked, latestReady } } });
    const failed = await rerun(base, "api-fedcba9-00000");
    const svc = byName(failed, "gcp:cloudrunv2/service:Service", "api");
    expect(svc.inputs.template.revision).toBe(`${base}-2`);
    expect(byName(failed, "command:local:Command", "api-release").inputs.triggers).toEqual([`${base}-2`]);
    expect(failed.logs).toContainEqual({
      severity: "warning",
      message: expect.stringContaining(`api: revision ${base} did not become ready`),
    });
    // Once the fresh one is ready, re-runs name it again (no change); a ready base name is kept.
    const served = await rerun(`${base}-2`, `${base}-2`);
    expect(byName(served, "gcp:cloudrunv2/service:Service", "api").inputs.template.revision).toBe(
      `${base}-2`,
    );
    const ready = await rerun(base, base);
    expect(byName(ready, "gcp:cloudrunv2/service:Service", "api").inputs.template.revision).toBe(base);
    expect(ready.logs.filter((l) => l.message.includes("did not become ready"))).toEqual([]);
  });

  it("releases each new revision through one step, after the service and its invokers, gated on the revision itself", () => {
    const release = byName(staging, "command:local:Command", "api-release");
    const svc = byName(staging, "gcp:cloudrunv2/service:Service", "api");
    const invoker = byName(
      staging,
      "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
      "api-invoker-allusers",
    );
    expect(release.dependencies).toEqual(expect.arrayContaining([svc.urn, invoker.urn]));
    expect(release.inputs.triggers).toEqual([svc.inputs.template.revision]);
    // The registry login is a description (lib/registry/login.ts), never a token: a re-run changes nothing.
    expect(release.inputs.environment).toEqual({
      MULTICLOUD_DEPLOY_STEP: "release",
      REGISTRY_LOGIN: '{"kind":"gcp"}',
    });
    // Before its health gate, the step checks the exact image the revision runs: its scan under the
    // stack's gate, and this stack's signature (the key read from KMS).
    const ref = svc.inputs.template.containers[0].image;
    expect(release.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/release.ts cloudrun projects/acme-apps-staging/locations/us-central1/services/api --revision ${svc.inputs.template.revision} --health-path /health --gate public --gate-attempts 10 --gate-interval-seconds 3 --gate-timeout-seconds 10` +
        ` --image ${ref} --max-critical 0 --deadline-seconds 900` +
        ` --signed-for ${SHA} --signed-by staging --signed-as ${ref.split("@")[0]}` +
        " --signed-with gcpkms://projects/acme-apps-staging/locations/us-central1/keyRings/multicloud-deploy/cryptoKeys/image-signing/cryptoKeyVersions/1",
    );
  });

  it("passes a rollout's steps and wait to the release step, each step judged by its traffic unless told not to", async () => {
    const run = await stagingWith({ services: { api: { rollout: { steps: [10, 50], waitSeconds: 30 } } } });
    const step = decodeReleaseStep(byName(run, "command:local:Command", "api-release").inputs.create);
    expect(step).toMatchObject({
      target: "cloudrun",
      gate: "public",
      rollout: { steps: [10, 50], waitSeconds: 30 },
      analysis: ANALYSIS_DEFAULTS,
    });
    const tuned = await stagingWith({
      services: {
        api: {
          rollout: { steps: [10], waitSeconds: 60, analysis: { minRequests: 5, tooFewRequests: "pass" } },
        },
        worker: { rollout: { steps: [10], waitSeconds: 60, analysis: false } },
      },
    });
    expect(
      decodeReleaseStep(byName(tuned, "command:local:Command", "api-release").inputs.create),
    ).toMatchObject({
      analysis: { ...ANALYSIS_DEFAULTS, minRequests: 5, tooFewRequests: "pass" },
    });
    expect(
      decodeReleaseStep(byName(tuned, "command:local:Command", "worker-release").inputs.create),
    ).toMatchObject({
      target: "lambda",
      analysis: "off",
    });
  });

  it("skips the health gate of a private service without an identity, and says so in the plan", async () => {
    const run = await stagingWith({ services: { api: { exposure: "private" } } });
    expect(run.resources.find((r) => r.name === "api-health")).toBeUndefined();
    expect(run.logs).toContainEqual({
      severity: "info",
      message:
        "health gate skipped: api is private and has no healthGateServiceAccount to call it with; set one, or check /health with `gcloud run services proxy`",
    });
    expect(gateNotes(run)).toEqual([
      "api: no health gate (private without healthGateServiceAccount, or healthGate: false); traffic moves to each new revision once it is ready, which Cloud Run's startup probe still decides",
    ]);
    expect(gateNotes(staging)).toEqual([]);
  });

  it("gates a private service as its health-check account, made an invoker first, with no token among the inputs", async () => {
    const sa = "health-check@acme-apps-staging.iam.gserviceaccount.com";
    const run = await stagingWith({
      services: { api: { exposure: "private", healthGateServiceAccount: sa } },
    });
    const svc = byName(run, "gcp:cloudrunv2/service:Service", "api");
    const invoker = byName(
      run,
      "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
      "api-invoker-serviceaccount-health-check-acme-apps-staging-iam-gserviceaccount-com",
    );
    expect(invoker.inputs).toMatchObject({ role: "roles/run.invoker", member: `serviceAccount:${sa}` });
    expect(invoker.aliasUrns).toEqual([invoker.urn.replace(/::[^:]+$/, "::api-health-invoker")]);
    expect(run.resources.find((r) => r.name === "api-invoker-allusers")).toBeUndefined();
    const release = byName(run, "command:local:Command", "api-release");
    expect(release.dependencies).toEqual(expect.arrayContaining([svc.urn, invoker.urn]));
    // The identity token is minted by the step when the gate runs: nothing rotating is an input, so a
    // re-run changes nothing and a preview needs no token-creator role.
    expect(decodeReleaseStep(release.inputs.create)?.gate).toEqual({ idTokenFor: sa });
    expect(release.rawInputs.environment).toEqual({
      MULTICLOUD_DEPLOY_STEP: "release",
      REGISTRY_LOGIN: '{"kind":"gcp"}',
    });
    expect(run.resources.map((r) => r.type)).not.toContain(
      "gcp:serviceaccount/getAccountIdToken:getAccountIdToken",
    );
    expect(gateNotes(run)).toEqual([]);
  });

  it("waits a bounded time after new secret grants, before the service that reads them (issue 21)", async () => {
    // Cloud Run's create fails on a permission denied on a secret, and the provider does not retry it.
    const settle = byName(staging, "command:local:Command", "api-grants-settle");
    const grants = ofType(staging, "gcp:secretmanager/secretIamMember:SecretIamMember");
    expect(settle.inputs.create).toBe(
      "echo 'api: waiting 90 s for new grants to apply (Cloud Run does not retry a permission denied on a secret or an image)' >&2; sleep 90",
    );
    expect(settle.inputs.update).toBe("true");
    // The grants' ids (the stand-in's `<secret>/<role>/<member>`): a new grant replaces the step, which waits.
    expect(settle.inputs.triggers).toEqual([
      `projects/acme-apps-staging/secrets/api-key/roles/secretmanager.secretAccessor/${grants[0]!.inputs.member}`,
    ]);
    expect(settle.dependencies).toEqual(expect.arrayContaining(grants.map((g) => g.urn)));
    expect(byName(staging, "gcp:cloudrunv2/service:Service", "api").dependencies).toContain(settle.urn);
    const never = await stagingWith({ services: { api: { grantPropagationSeconds: 0 } } });
    expect(never.resources.find((r) => r.name === "api-grants-settle")).toBeUndefined();
  });

  describe("one grant per (resource, role, member), named by that binding (issue 21)", () => {
    // Google's *IamMember resources share the binding they add to: deleting either of two grants of
    // one binding revokes it for both (tpgiamresource/resource_iam_member.go resourceIamMemberDelete).
    const grants = (run: ProgramRun, type: string) =>
      ofType(run, type).map((g) => ({
        resource: g.name,
        ...g.inputs,
        aliases: g.aliasUrns.map((u) => u.split("::").pop()),
      }));

    it("two env vars reading one secret share one grant, named by the secret, which keeps the old name as an alias", async () => {
      const run = await stagingWith({
        services: {
          api: {
            secrets: {
              API_KEY: { secret: "api-key", version: "latest" },
              API_KEY_PREVIOUS: { secret: "api-key", version: "1" },
              // The same secret named in full, in the service's own project: the same binding.
              API_KEY_FULL: { secret: "projects/acme-apps-staging/secrets/api-key", version: "2" },
            },
          },
        },
      });
      const sa = byName(run, "gcp:serviceaccount/account:Account", "api-sa").outputs.email;
      expect(grants(run, "gcp:secretmanager/secretIamMember:SecretIamMember")).toEqual([
        {
          resource: "api-secret-api-key",
          project: "acme-apps-staging",
          secretId: "api-key",
          role: "roles/secretmanager.secretAccessor",
          member: `serviceAccount:${sa}`,
          aliases: ["api-secret-api_key"],
        },
      ]);
      // Every env var still reads it as written.
      const envs = byName(run, "gcp:cloudrunv2/service:Service", "api").inputs.template.containers[0].envs;
      expect(
        envs.filter((e: any) => e.valueSource).map((e: any) => e.valueSource.secretKeyRef.secret),
      ).toEqual(["api-key", "projects/acme-apps-staging/secrets/api-key", "api-key"]);
    });

    it("a secret named in full in another project is granted in that project, so the grant is not replaced on every update", async () => {
      const run = await stagingWith({
        services: {
          api: { secrets: { SHARED: { secret: "projects/acme-shared/secrets/token", version: "1" } } },
        },
      });
      expect(grants(run, "gcp:secretmanager/secretIamMember:SecretIamMember")).toMatchObject([
        { resource: "api-secret-api-key", project: "acme-apps-staging", secretId: "api-key" },
        {
          resource: "api-secret-acme-shared/token",
          // What the provider stores: the project parsed from the full name (iam_secret_manager_secret.go).
          project: "acme-shared",
          secretId: "projects/acme-shared/secrets/token",
          aliases: ["api-secret-shared"],
        },
      ]);
    });

    it("an invoker listed twice, or also the health gate's account, is one grant", async () => {
      const sa = "health@acme-apps-staging.iam.gserviceaccount.com";
      const settings = {
        services: {
          api: {
            exposure: "private",
            invokers: [`serviceAccount:${sa}`, "user:Dev@example.com", "user:dev@example.com"],
            healthGateServiceAccount: sa,
          },
        },
      };
      const run = await stagingWith(settings);
      const invokers = ofType(run, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember");
      expect(invokers.filter((g) => !g.retainOnDelete).map((g) => [g.name, g.inputs.member])).toEqual([
        [
          `api-invoker-serviceaccount-health-acme-apps-staging-iam-gserviceaccount-com`,
          `serviceAccount:${sa}`,
        ],
        ["api-invoker-user-dev-example-com", "user:Dev@example.com"],
      ]);
      // A new stack: nothing else of that binding.
      expect(invokers.filter((g) => g.retainOnDelete)).toEqual([]);
      // The second grant of the health account that stacks made before issue 21 have stays as it was,
      // retained, where the stack says it has one (keepRetainedGrants), so that nothing deletes (and
      // so revokes) that binding.
      const old = await stagingWith({ ...settings, keepRetainedGrants: true });
      const kept = ofType(old, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember").filter(
        (g) => g.retainOnDelete,
      );
      expect(kept.map((g) => [g.name, g.inputs.member])).toEqual([
        ["api-health-invoker", `serviceAccount:${sa}`],
      ]);
    });

    it("a cross-project image repository gets one reader grant for the Cloud Run service agent, whatever the number of services", async () => {
      const settings = {
        artifactRegistry: { project: "acme-images" },
        services: { web: { target: "cloudrun", context: "apps/api", platform: "linux/amd64" } },
      };
      const agentReaders = (r: ProgramRun) =>
        ofType(r, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
          .filter((g) => String(g.inputs.member).includes("serverless-robot-prod"))
          .sort((a, b) => a.name.localeCompare(b.name));
      const run = await stagingWith(settings);
      const readers = agentReaders(run);
      expect(readers.map((g) => [g.name, g.inputs.project, g.inputs.repository, g.retainOnDelete])).toEqual([
        ["images-reader-cloud-run-agent-acme-apps-staging", "acme-images", "apps", false],
      ]);
      // A stack made before issue 21 keeps web's own grant as it was, retained (see targets/cloud-run.ts).
      const old = agentReaders(await stagingWith({ ...settings, keepRetainedGrants: true }));
      expect(old.map((g) => [g.name, g.retainOnDelete])).toEqual([
        ["images-reader-cloud-run-agent-acme-apps-staging", false],
        ["web-image-reader", true],
      ]);
      expect(readers[0]!.aliasUrns).toEqual([
        "urn:pulumi:staging::multicloud-deploy::multicloud:gcp:CloudRunService$gcp:artifactregistry/repositoryIamMember:RepositoryIamMember::api-image-reader",
      ]);
      // Both services are created after it: the first revision must be able to pull.
      for (const name of ["api", "web"]) {
        expect(byName(run, "gcp:cloudrunv2/service:Service", name).dependencies).toContain(readers[0]!.urn);
      }
      // ... and after the wait for it to apply, which a new grant triggers.
      const settle = byName(run, "command:local:Command", "web-grants-settle");
      expect(settle.dependencies).toContain(readers[0]!.urn);
      expect(byName(run, "gcp:cloudrunv2/service:Service", "web").dependencies).toContain(settle.urn);
    });
  });
});
