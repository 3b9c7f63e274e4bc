/** CloudRunService: digest-pinned service, identity, secrets, probes, invokers, health gate. */
import { beforeAll, describe, expect, it } from "vitest";
import { planNotes } from "../../plan/report";
import { byName, ofType, runProgram, type ProgramRun } from "../../plan/run";
import { SHA, stacks } from "../harness/stacks";

const gateNotes = (run: ProgramRun) => planNotes(run).filter((n) => n.includes("health gate"));

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
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      overrides: {
        services: {
          api: { exposure: "private", invokers: ["serviceAccount:caller@acme.iam.gserviceaccount.com"] },
        },
      },
    });
    const grants = ofType(run, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember");
    expect(grants.map((g) => [g.name, g.inputs.member])).toEqual([
      [
        "api-invoker-serviceaccount-caller-acme-iam-gserviceaccount-com",
        "serviceAccount:caller@acme.iam.gserviceaccount.com",
      ],
    ]);
    expect(ofType(run, "command:local:Command").map((c) => c.name)).not.toContain("api-health");
  });

  it("has deletion protection in prod only", () => {
    expect(byName(prod, "gcp:cloudrunv2/service:Service", "api").inputs.deletionProtection).toBe(true);
    expect(byName(staging, "gcp:cloudrunv2/service:Service", "api").inputs.deletionProtection).toBe(false);
  });

  it("runs the health gate after the service and again on each new revision", () => {
    const gate = byName(staging, "command:local:Command", "api-health");
    const svc = byName(staging, "gcp:cloudrunv2/service:Service", "api");
    expect(gate.dependencies).toContain(svc.urn);
    expect(gate.inputs.triggers).toEqual([svc.outputs.latestReadyRevision]);
    expect(gate.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/health-check.ts ${svc.outputs.uri}/health --expect healthy --attempts 10`,
    );
  });

  it("skips the health gate of a private service without an identity, and says so in the plan", async () => {
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      overrides: { services: { api: { exposure: "private" } } },
    });
    expect(run.resources.find((r) => r.name === "api-health")).toBeUndefined();
    expect(run.logs).toContainEqual({
      severity: "info",
      message:
        "health gate skipped: api is private and has no healthGateServiceAccount to call it with; set one, or check /health with `gcloud run services proxy`",
    });
    expect(gateNotes(run)).toEqual([
      "api: no health gate (private without healthGateServiceAccount, or healthGate: false); Cloud Run's startup probe still guards each revision",
    ]);
    expect(gateNotes(staging)).toEqual([]);
  });

  it("gates a private service with the identity token of its health-check account, made an invoker first", async () => {
    const sa = "health-check@acme-apps-staging.iam.gserviceaccount.com";
    const run = await runProgram({
      stack: "staging",
      commit: SHA,
      overrides: { services: { api: { exposure: "private", healthGateServiceAccount: sa } } },
    });
    const svc = byName(run, "gcp:cloudrunv2/service:Service", "api");
    const invoker = byName(run, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "api-health-invoker");
    expect(invoker.inputs).toMatchObject({ role: "roles/run.invoker", member: `serviceAccount:${sa}` });
    expect(run.resources.find((r) => r.name === "api-public-invoker")).toBeUndefined();
    const gate = byName(run, "command:local:Command", "api-health");
    expect(gate.dependencies).toEqual(expect.arrayContaining([svc.urn, invoker.urn]));
    // The token is a secret in the environment, for the service's own URL, never on the command line.
    const token = gate.rawInputs.environment.HEALTH_CHECK_TOKEN;
    expect(token).toMatchObject({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" });
    expect(JSON.parse(Buffer.from(token.value.split(".")[1], "base64url").toString())).toEqual({
      aud: svc.outputs.uri,
      email: sa,
    });
    expect(gate.inputs.create).not.toContain(token.value);
    expect(gateNotes(run)).toEqual([]);
  });
});
