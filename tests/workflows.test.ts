/** The GitHub Actions workflows: actionlint-clean, least privilege, previews on PRs, serialised deploys. */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { describe, expect, it } from "vitest";
import { lintWorkflows, readWorkflows } from "../scripts/lint-workflows";
import { PROJECT_DIR } from "../plan/run";

const files = readWorkflows(path.join(PROJECT_DIR, ".github/workflows"));
const wf = (name: string) => YAML.parse(files[`.github/workflows/${name}`]!) as any;
const pulumiSteps = (job: any) =>
  job.steps.filter((s: any) => String(s.uses ?? "").startsWith("pulumi/actions@"));

describe("GitHub Actions workflows", () => {
  it("pass actionlint, which does catch a broken workflow", async () => {
    expect(await lintWorkflows(files)).toEqual([]);
    const broken =
      "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.evnt.ref }}\n";
    expect((await lintWorkflows({ "broken.yml": broken })).map((f) => f.kind)).toContain("expression");
  });

  it("run pulumi/actions@v7, the release on the Node 24 runtime (CONTRIBUTING.md, Versions)", () => {
    const uses = Object.values(files).flatMap((text) =>
      [...text.matchAll(/uses: (pulumi\/actions@\S+)/g)].map((m) => m[1]),
    );
    expect(uses.length).toBeGreaterThan(0);
    expect(new Set(uses)).toEqual(new Set(["pulumi/actions@v7"]));
  });

  it("preview every stack on pull requests with a diff comment and the policy pack, with least permissions", () => {
    const preview = wf("preview.yml");
    expect(Object.keys(preview.on)).toEqual(["pull_request"]);
    expect(preview.permissions).toEqual({ contents: "read", "id-token": "write", "pull-requests": "write" });
    const job = preview.jobs.preview;
    expect(job.strategy.matrix.include.map((m: any) => m.stack)).toEqual(["staging", "prod"]);
    expect(pulumiSteps(job)).toEqual([
      expect.objectContaining({
        with: expect.objectContaining({
          command: "preview",
          "comment-on-pr": true,
          diff: true,
          policyPacks: "policy",
          policyPackConfigs: "policy/config.${{ matrix.stack }}.json",
        }),
      }),
    ]);
  });

  it("check pull requests' Dockerfiles for each image's platform, with arm64 emulated and no credentials, push or cache export", () => {
    const job = wf("preview.yml").jobs["build-check"];
    expect(job.permissions).toEqual({ contents: "read" });
    const uses = job.steps.map((s: any) => String(s.uses ?? "").split("@")[0]);
    expect(uses.indexOf("docker/setup-qemu-action")).toBeGreaterThanOrEqual(0);
    expect(uses.indexOf("docker/setup-qemu-action")).toBeLessThan(uses.indexOf("docker/setup-buildx-action"));
    expect(job.steps.find((s: any) => s.uses?.startsWith("docker/setup-qemu-action")).with.platforms).toBe(
      "arm64",
    );
    const build = job.steps.find((s: any) => String(s.run ?? "").includes("buildx build")).run as string;
    expect(build).toContain("--output type=cacheonly");
    expect(build).not.toMatch(/--push|--cache-to|type=registry/);
    // Every image the stacks build is checked, on the platform it is built for.
    const staging = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.staging.yaml"), "utf8"));
    const services = staging.config["multicloud-deploy:services"];
    expect(job.strategy.matrix.include.map((m: any) => [m.service, m.context, m.platform]).sort()).toEqual(
      Object.entries(services)
        .map(([name, s]: [string, any]) => [
          name,
          s.context,
          s.platform ?? (s.architecture === "x86_64" ? "linux/amd64" : "linux/arm64"),
        ])
        .sort(),
    );
  });

  it("authenticate to Pulumi, AWS and GCP with OIDC, never with stored keys", () => {
    for (const name of Object.keys(files)) {
      const text = files[name]!;
      expect(text, name).not.toMatch(
        /AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|credentials_json|PULUMI_ACCESS_TOKEN/,
      );
      for (const job of Object.values(wf(path.basename(name)).jobs) as any[]) {
        const uses = job.steps.map((s: any) => String(s.uses ?? "").split("@")[0]);
        if (pulumiSteps(job).length === 0) continue; // a job that runs no Pulumi needs no cloud identity
        expect(uses).toEqual(
          expect.arrayContaining([
            "pulumi/auth-actions",
            "aws-actions/configure-aws-credentials",
            "google-github-actions/auth",
          ]),
        );
      }
    }
  });

  it("deploy staging on push to main, then prod behind its environment, one update per stack at a time", () => {
    const deploy = wf("deploy.yml");
    expect(deploy.on.push.branches).toEqual(["main"]);
    expect(deploy.permissions).toEqual({ contents: "read", "id-token": "write" });
    const { staging, prod } = deploy.jobs;
    expect(staging.concurrency).toEqual({ group: "pulumi-staging", "cancel-in-progress": false });
    expect(prod.concurrency).toEqual({ group: "pulumi-prod", "cancel-in-progress": false });
    expect(prod.needs).toBe("prod-plan");
    expect(prod.environment).toBe("prod");
    expect(pulumiSteps(staging)[0].with).toMatchObject({
      command: "up",
      "stack-name": "${{ env.PULUMI_ORG }}/staging",
    });
    expect(pulumiSteps(prod)[0].with).toMatchObject({
      command: "up",
      "stack-name": "${{ env.PULUMI_ORG }}/prod",
      policyPackConfigs: "policy/config.prod.json",
    });
  });

  it("apply to prod exactly the plan its preview saved, at the same commit, after the prod environment's approval", () => {
    const { "prod-plan": planJob, prod } = wf("deploy.yml").jobs;
    // The preview runs before any approval, with the read-only previewer identities, in no environment.
    expect(planJob.needs).toBe("staging");
    expect(planJob.environment).toBeUndefined();
    expect(JSON.stringify(planJob.steps)).toContain("github-actions-preview-prod");
    expect(JSON.stringify(planJob.steps)).not.toContain("github-actions-deploy-prod");
    const [preview] = pulumiSteps(planJob);
    const [apply] = pulumiSteps(prod);
    expect(preview.with).toMatchObject({ command: "preview", "stack-name": "${{ env.PULUMI_ORG }}/prod" });
    expect(apply.with).toMatchObject({ command: "up", "stack-name": "${{ env.PULUMI_ORG }}/prod" });
    // The same file: saved by the preview, published, fetched by name, applied by the update.
    const plan = preview.with.plan;
    expect(plan).toMatch(/\.json$/);
    expect(apply.with.plan).toBe(plan);
    const upload = planJob.steps.find((st: any) => String(st.uses).startsWith("actions/upload-artifact@"));
    const download = prod.steps.find((st: any) => String(st.uses).startsWith("actions/download-artifact@"));
    expect(upload.with).toMatchObject({
      name: "prod-plan-${{ github.sha }}",
      path: plan,
      "if-no-files-found": "error",
    });
    expect(download.with).toEqual({ name: upload.with.name });
    // The same commit in both jobs, and the plan on the run's summary for the reviewer.
    for (const job of [planJob, prod]) {
      const checkout = job.steps.find((st: any) => String(st.uses).startsWith("actions/checkout@"));
      expect(checkout.with).toEqual({ ref: "${{ github.sha }}" });
    }
    expect(JSON.stringify(planJob.steps)).toContain("GITHUB_STEP_SUMMARY");
    // A refused plan says how to start again.
    const onFailure = prod.steps.find((st: any) => st.if === "failure()");
    expect(onFailure.run).toContain("Re-run all jobs");
    // Steps after the download and before the update do not touch the plan file.
    expect(prod.steps.indexOf(download)).toBeLessThan(prod.steps.indexOf(apply));
  });
});
