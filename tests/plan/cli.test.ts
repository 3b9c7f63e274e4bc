/**
 * The offline plan as a reviewer reads it: every warning and note in each format, errors as JSON with
 * --json, promotion mistakes named, YAML mistakes at the right line, and a diff against the last
 * deployment's `pulumi stack export`. Each case plans a scratch project: Pulumi.yaml and the apps of
 * this one, plus the stack file under test.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { planMain } from "../../plan/cli";
import { PROJECT_DIR, runProgram } from "../../plan/run";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const scratch: string[] = [];
afterAll(() => scratch.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A project outside any git work tree (the commit comes from commitSha) with the given stack files. */
function project(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-cli-"));
  scratch.push(dir);
  for (const entry of ["Pulumi.yaml", "apps", "node_modules", "scripts"]) {
    fs.symlinkSync(path.join(PROJECT_DIR, entry), path.join(dir, entry));
  }
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

/** A repository stack file with edits applied to its text, pinned to SHA. */
function stackFile(stack: "staging" | "prod", edit: (text: string) => string = (t) => t): string {
  const text = fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8");
  return edit(text).replace(/^config:\n/m, `config:\n  multicloud-deploy:commitSha: "${SHA}"\n`);
}

async function plan(dir: string, ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await planMain(["node", "plan", "--dir", dir, ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("the offline plan CLI", () => {
  it("lists the stacks that exist when --stack names none, and answers --json with a JSON error", async () => {
    const dir = project({
      "Pulumi.staging.yaml": stackFile("staging"),
      "Pulumi.prod.yaml": stackFile("prod"),
    });
    const r = await plan(dir, "--stack", "dev", "--json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual({
      kind: "offline-plan-error",
      stack: "dev",
      error: `no stack "dev": Pulumi.dev.yaml does not exist in ${dir}`,
      problems: ["stacks with a file here: prod, staging; pick one with --stack, or create Pulumi.dev.yaml"],
    });
  });

  it("prints config errors as a JSON error object with every problem", async () => {
    const dir = project({
      "Pulumi.staging.yaml": stackFile("staging", (t) =>
        t.replace("logRetentionDays: 30", "logRetentionDays: 45"),
      ),
    });
    const r = await plan(dir, "--json");
    expect(r.code).toBe(1);
    const error = JSON.parse(r.out);
    expect(error.error).toBe("Pulumi.staging.yaml: 1 configuration error (nothing was deployed)");
    expect(error.problems).toEqual([
      expect.stringMatching(/^Pulumi\.staging\.yaml: multicloud-deploy:logRetentionDays: /),
    ]);
  });

  it.each([
    [
      "an unclosed double quote, at its own line",
      (t: string) => t.replace("multicloud-deploy:nodeEnv: staging", 'multicloud-deploy:nodeEnv: "staging'),
      'Pulumi.staging.yaml:14:30: this double-quoted value is never closed; add the closing "',
    ],
    [
      "an unclosed single quote, at its own line and not at the end of the file",
      (t: string) => t.replace("      exposure: public", "      exposure: 'public"),
      "Pulumi.staging.yaml:52:17: this single-quoted value is never closed; add the closing '",
    ],
  ])("names the file and line of %s", async (_, edit, expected) => {
    const r = await plan(project({ "Pulumi.staging.yaml": stackFile("staging", edit) }));
    expect(r.code).toBe(1);
    expect(r.err.split("\n").slice(0, 2)).toEqual([
      "Pulumi.staging.yaml: not valid YAML (nothing was planned)",
      `  - ${expected}`,
    ]);
  });

  it.each([
    [
      "a promoteFrom typo, with the stacks that exist",
      "acme/multicloud-deploy/stagin",
      'Pulumi.prod.yaml: multicloud-deploy:promoteFrom: the stack "stagin" does not exist here\n' +
        '  - no Pulumi.stagin.yaml; did you mean "staging"? Stacks with a file: staging. Fix the name in promoteFrom',
    ],
    [
      "another project's stack, which the offline plan cannot read",
      "acme/billing/staging",
      'Pulumi.prod.yaml: multicloud-deploy:promoteFrom: acme/billing/staging is a stack of project "billing", not multicloud-deploy\n' +
        "  - the offline plan reads only this project's stack files, so it cannot know that stack's images; run `pulumi preview --stack prod` to plan against it",
    ],
    [
      "the stack itself",
      "acme/multicloud-deploy/prod",
      "Pulumi.prod.yaml: 1 configuration error (nothing was deployed)\n" +
        "  - Pulumi.prod.yaml: multicloud-deploy:promoteFrom: a stack cannot promote from itself (acme/multicloud-deploy/prod is this stack); name the stack whose images this one deploys, e.g. acme/multicloud-deploy/staging, or remove promoteFrom to build here",
    ],
  ])("answers %s with the file and key", async (_, promoteFrom, expected) => {
    const dir = project({
      "Pulumi.staging.yaml": stackFile("staging"),
      "Pulumi.prod.yaml": stackFile("prod", (t) =>
        t.replace("promoteFrom: acme/multicloud-deploy/staging", `promoteFrom: ${promoteFrom}`),
      ),
    });
    const r = await plan(dir, "--stack", "prod");
    expect(r.code).toBe(1);
    expect(r.err).toBe(expected);
  });

  it("carries warnings and notes into --markdown and --json: a rollback, a missing health gate, what secrets hold", async () => {
    const rollback = {
      api: { digest: `sha256:${"1".repeat(64)}`, tag: "abc-amd64", commitSha: "f".repeat(40) },
    };
    const dir = project({
      "Pulumi.staging.yaml": stackFile("staging", (t) =>
        t
          .replace("      exposure: public", "      exposure: private")
          .replace(/^config:\n/m, `config:\n  multicloud-deploy:rollback: ${JSON.stringify(rollback)}\n`),
      ),
    });
    const rollbackWarning = `api: rolled back to ${"f".repeat(40)} (sha256:${"1".repeat(64)}) by multicloud-deploy:rollback; remove the key once the fix is deployed`;
    const notes = [
      "api: release moves traffic from where it is now (pass --state to see it) to api-0123456-e1d76, all at once, with no gate; a failed gate leaves or returns all traffic to what served before",
      "worker: release moves traffic from where it is now (pass --state to see it) to version 1, all at once, after its own health gate passes; a failed gate leaves or returns all traffic to what served before",
      "api: no health gate (private without healthGateServiceAccount, or healthGate: false); traffic moves to each new revision once it is ready, which Cloud Run's startup probe still decides",
      `api: ROLLED BACK to commit ${"f".repeat(40)} (sha256:${"1".repeat(64)}, tag abc-amd64) from this stack's own registry; nothing is built or promoted for it`,
      "api: API_KEY holds the secret's value, which Cloud Run resolves from Secret Manager when an instance starts (version latest)",
      "worker: DB_SECRET_ARN holds a Secrets Manager ARN, not the value; the function reads the value at run time (its role may read only these secrets)",
    ];
    const json = await plan(dir, "--json");
    expect(json.code).toBe(0);
    const report = JSON.parse(json.out);
    expect(report.warnings).toContain(rollbackWarning);
    expect(report.notes).toEqual(notes);
    expect(report.changes).toBeNull();

    const md = await plan(dir, "--markdown");
    expect(md.out).toContain(`> [!WARNING]\n> ${rollbackWarning}`);
    for (const n of notes) expect(md.out).toContain(`- ${n}`);

    const text = await plan(dir);
    expect(text.out).toContain(
      `rollback: us-central1-docker.pkg.dev/acme-apps-staging/apps/api@sha256:${"1".repeat(64)} must still be in this registry (nothing is copied)`,
    );
    expect(text.out).toMatch(
      /cloud resources to create, as if nothing existed \(without --state the plan cannot know/,
    );
  });

  it("says how each rollout step is judged and how long it really takes: its wait plus the metric delay", async () => {
    const dir = project({
      "Pulumi.staging.yaml": stackFile("staging", (t) =>
        t
          .replace(
            "      healthPath: /health\n",
            "      healthPath: /health\n      rollout: { steps: [10, 50], waitSeconds: 60 }\n",
          )
          .replace(
            "      ephemeralStorageMb: 1024\n",
            "      ephemeralStorageMb: 1024\n      rollout: { steps: [25], waitSeconds: 120, analysis: { tooFewRequests: pass, delaySeconds: 240 } }\n",
          ),
      ),
    });
    const json = await plan(dir, "--json");
    expect(json.code, json.err).toBe(0);
    const notes = JSON.parse(json.out).notes as string[];
    expect(notes).toContainEqual(
      expect.stringContaining(
        "api: release moves traffic from where it is now (pass --state to see it) to api-0123456-c42bd, in steps of 10%, 50%, 100% (60s and the gate after each; each step judged by its own traffic (5xx <= 1%, p99 <= 1500 ms, at least 50 requests, with fewer held up to 600 s, then returned), read 180 s late: each step takes 60 s + 180 s = 240 s (up to 840 s held))",
      ),
    );
    expect(notes).toContainEqual(
      expect.stringContaining(
        "to version 1, in steps of 25%, 100% (120s and the gate after each; each step judged by its own traffic (function errors <= 1%, p99 <= 1500 ms, at least 50 requests, with fewer passed unjudged), read 240 s late: each step takes 120 s + 240 s = 360 s)",
      ),
    );
  });

  it("shows scaling, CPU and memory, timeouts, IAM trust and statements, function URL auth; counts components apart", async () => {
    const r = await plan(project({ "Pulumi.staging.yaml": stackFile("staging") }));
    expect(r.code).toBe(0);
    expect(r.out).toContain("cpu=1 memory=512Mi cpuIdle=true instances=0..3 concurrency=80 timeout=60s");
    expect(r.out).toContain(
      "memory=1024MB timeout=60s ephemeralStorage=1024MB reservedConcurrency=unreserved",
    );
    expect(r.out).toContain(
      "multicloud-deploy-staging-worker-role trust: Allow sts:AssumeRole for lambda.amazonaws.com",
    );
    expect(r.out).toContain(
      "worker-secrets  Allow secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:111111111111:secret:staging/worker/db-AbCdEf",
    );
    expect(r.out).toContain("worker-url  on live authorizationType=AWS_IAM");
    // Each verified image is signed with its cloud's key, and the plan says with which.
    expect(r.out).toMatch(
      /api-sign {2}sign us-central1-docker\.pkg\.dev\/acme-apps-staging\/apps\/api@sha256:[0-9a-f]{64} with gcpkms:\/\/projects\/acme-apps-staging\/locations\/us-central1\/keyRings\/multicloud-deploy\/cryptoKeys\/image-signing\/cryptoKeyVersions\/1 \(cosign format; commit [0-9a-f]{40}, stack staging\)/,
    );
    expect(r.out).toContain("with awskms:///alias/multicloud-deploy-image-signing (cosign format;");
    // Each image's scan gate, with its thresholds and the API it waits for.
    expect(r.out).toMatch(
      /api-scan {2}scan gate us-central1-docker\.pkg\.dev\/acme-apps-staging\/apps\/api@sha256:[0-9a-f]{64}: wait up to 900 s for Container Analysis, then critical <= 0\n/,
    );
    expect(r.out).toMatch(
      /worker-scan {2}scan gate \S+: wait up to 900 s for ECR's scan, then critical <= 0\n/,
    );
    expect(r.out).toMatch(
      /\n28 cloud resources to create, .*; 6 components \(which create nothing themselves\)\./,
    );
  });

  it("diffs against a stack export: creates, updates, replaces and deletes, a rename as a delete", async () => {
    const dir = project({ "Pulumi.staging.yaml": stackFile("staging") });
    // The last deployment: this very stack, as `pulumi stack export` writes it.
    const before = await runProgram({ stack: "staging", projectDir: dir, env: process.env });
    const exported = {
      version: 3,
      deployment: {
        resources: before.resources.map((r) => ({
          urn: r.urn,
          type: r.type,
          custom: r.custom,
          inputs: r.rawInputs,
        })),
      },
    };
    const stateFile = path.join(dir, "state.json");
    fs.writeFileSync(stateFile, JSON.stringify(exported));
    const same = JSON.parse((await plan(dir, "--json", "--state", stateFile)).out);
    expect(same.changes.filter((c: { change: string }) => c.change !== "same")).toEqual([]);

    // Now: more memory for the API, the worker under another function name, a renamed service.
    const edited = stackFile("staging", (t) =>
      t
        .replace("      memory: 512Mi", "      memory: 1Gi")
        .replace("      target: lambda", "      target: lambda\n      functionName: acme-worker")
        .replace(/^ {4}api:$/m, "    web:"),
    );
    fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), edited);
    const r = JSON.parse((await plan(dir, "--json", "--state", stateFile)).out);
    const find = (change: string, type: string, name: string) =>
      r.changes.find((c: any) => c.change === change && c.type === type && c.name === name);
    expect(find("create", "gcp:cloudrunv2/service:Service", "web")).toBeDefined();
    expect(find("delete", "gcp:cloudrunv2/service:Service", "api")).toBeDefined();
    expect(find("replace", "aws:lambda/function:Function", "worker")?.changed).toContain("name");
    expect(find("update", "aws:cloudwatch/logGroup:LogGroup", "worker-logs")).toBeUndefined();
    expect(find("replace", "aws:cloudwatch/logGroup:LogGroup", "worker-logs")?.changed).toEqual(["name"]);

    const text = await plan(dir, "--state", stateFile);
    expect(text.out).toMatch(
      /\n\d+ to create, \d+ to update, \d+ to replace, \d+ to delete, \d+ to leave unchanged;/,
    );
    expect(text.out).toContain("\n- gcp:cloudrunv2/service:Service api");
  });

  it("refuses an export of another stack, which would show everything replaced", async () => {
    const dir = project({ "Pulumi.staging.yaml": stackFile("staging") });
    const file = path.join(dir, "prod.json");
    const resources = [
      { urn: "urn:pulumi:prod::multicloud-deploy::pulumi:pulumi:Stack::x", type: "pulumi:pulumi:Stack" },
    ];
    fs.writeFileSync(file, JSON.stringify({ version: 3, deployment: { resources } }));
    const r = await plan(dir, "--state", file);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `--state ${file}: an export of stack prod, not staging\n` +
        "  - export this stack: `pulumi stack export --stack staging --file <file>`, or plan --stack prod",
    );
  });

  it("refuses a --state file that is not a stack export, naming it", async () => {
    const dir = project({ "Pulumi.staging.yaml": stackFile("staging"), "x.json": YAML.stringify({ a: 1 }) });
    const r = await plan(dir, "--state", path.join(dir, "x.json"));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/x\.json: not JSON/);
  });
});
