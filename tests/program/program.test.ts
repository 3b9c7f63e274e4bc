/** The program as a whole: promotion from staging, rollback, and config errors that stop it before anything is registered. */
import { beforeAll, describe, expect, it } from "vitest";
import { byName, loadStackConfig, ofType, runProgram, type ProgramRun } from "../../plan/run";
import { SHA, stacks } from "../harness/stacks";
import { pkixKeyId } from "../../lib/binauthz/payload";

let staging: ProgramRun;
let prod: ProgramRun;
beforeAll(async () => {
  ({ staging, prod } = await stacks());
}, 60_000);

describe("promotion", () => {
  it("prod builds nothing: it copies staging's verified digest into its own registry, verifies it there and deploys it", () => {
    expect(ofType(prod, "docker-build:index:Image")).toEqual([]);
    const { digest, tag } = staging.outputs.images.api;
    const promote = byName(prod, "command:local:Command", "api-promote");
    const verify = byName(prod, "command:local:Command", "api-verify");
    // Only with staging's signature for the commit staging built it at (docs/signing.md).
    expect(promote.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/promote-image.ts us-central1-docker.pkg.dev/acme-apps-staging/apps/api@${digest} ` +
        `us-central1-docker.pkg.dev/acme-apps-prod/apps/api --signed-for ${staging.outputs.images.api.commitSha} --signed-by staging`,
    );
    expect(verify.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/verify-image.ts us-central1-docker.pkg.dev/acme-apps-prod/apps/api@${digest} --platform linux/amd64 --tag ${tag}`,
    );
    expect(verify.dependencies).toContain(promote.urn);
    const svc = byName(prod, "gcp:cloudrunv2/service:Service", "api");
    expect(svc.inputs.template.containers[0].image).toBe(
      `us-central1-docker.pkg.dev/acme-apps-prod/apps/api@${digest}`,
    );
    expect(svc.dependencies).toContain(verify.urn);
    expect(byName(prod, "aws:lambda/function:Function", "worker").inputs.imageUri).toBe(
      `222222222222.dkr.ecr.us-east-1.amazonaws.com/multicloud-deploy-prod/worker@${staging.outputs.images.worker.digest}`,
    );
  });

  it("tells the copy where to log in to each registry (staging's account, prod's own), never a token, and which key to trust", () => {
    const keys = prod.config!.signatureKeys!;
    const promote = byName(prod, "command:local:Command", "worker-promote");
    expect(promote.inputs.environment).toEqual({
      MULTICLOUD_DEPLOY_STEP: "promote-image",
      SOURCE_REGISTRY_LOGIN: '{"kind":"ecr","region":"us-east-1","registryId":"111111111111"}',
      REGISTRY_LOGIN: '{"kind":"ecr","region":"us-east-1","registryId":"222222222222"}',
      SIGNATURE_PUBLIC_KEY: keys.aws,
    });
    const text = JSON.stringify(promote.rawInputs);
    expect(text).not.toContain("mock-ecr-password");
    expect(byName(prod, "command:local:Command", "api-promote").inputs.environment).toEqual({
      MULTICLOUD_DEPLOY_STEP: "promote-image",
      SOURCE_REGISTRY_LOGIN: '{"kind":"gcp"}',
      REGISTRY_LOGIN: '{"kind":"gcp"}',
      SIGNATURE_PUBLIC_KEY: keys.gcp,
    });
  });

  it("staging signs each verified digest with its cloud's key before any service uses it; prod signs nothing", () => {
    for (const [svc, key] of [
      [
        "api",
        "gcpkms://projects/acme-apps-staging/locations/us-central1/keyRings/multicloud-deploy/cryptoKeys/image-signing/cryptoKeyVersions/1",
      ],
      ["worker", "awskms:///alias/multicloud-deploy-image-signing"],
    ] as const) {
      const sign = byName(staging, "command:local:Command", `${svc}-sign`);
      const verify = byName(staging, "command:local:Command", `${svc}-verify`);
      const { digest, repositoryUrl, commitSha } = staging.outputs.images[svc];
      expect(sign.inputs.create).toBe(
        `node_modules/.bin/tsx scripts/sign-image.ts ${repositoryUrl}@${digest} --key ${key}` +
          `${svc === "worker" ? " --aws-region us-east-1" : ""} --commit ${commitSha} --stack staging`,
      );
      expect(sign.inputs.environment.MULTICLOUD_DEPLOY_STEP).toBe("sign-image");
      // Verified, then scanned, then signed: the signature says the image passed both here.
      const scan = byName(staging, "command:local:Command", `${svc}-scan`);
      expect(scan.dependencies).toContain(verify.urn);
      expect(sign.dependencies).toContain(scan.urn);
    }
    expect(byName(staging, "gcp:cloudrunv2/service:Service", "api").propertyDependencies?.template).toContain(
      byName(staging, "command:local:Command", "api-sign").urn,
    );
    expect(ofType(prod, "command:local:Command").filter((c) => c.name.endsWith("-sign"))).toEqual([]);
  });

  it("prod attests each promoted Cloud Run image for Binary Authorization once its scan passed, and its Cloud Run services enforce the project's policy", () => {
    const attest = byName(prod, "command:local:Command", "api-attest");
    const { digest, repositoryUrl } = prod.outputs.images.api;
    expect(attest.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/attest-image.ts ${repositoryUrl}@${digest} --attestor projects/acme-apps-prod/attestors/multicloud-deploy --signed-for ${staging.outputs.images.api.commitSha} --signed-by staging`,
    );
    expect(attest.inputs.environment).toEqual({
      MULTICLOUD_DEPLOY_STEP: "attest-image",
      REGISTRY_LOGIN: '{"kind":"gcp"}',
      SIGNATURE_PUBLIC_KEY: prod.config!.signatureKeys!.gcp,
    });
    expect(attest.dependencies).toContain(byName(prod, "command:local:Command", "api-scan").urn);
    const svc = byName(prod, "gcp:cloudrunv2/service:Service", "api");
    expect(svc.inputs.binaryAuthorization).toEqual({ useDefault: true });
    expect(svc.propertyDependencies?.template).toContain(attest.urn);
    // The attestor holds staging's key; Binary Authorization's service account may read its note.
    const attestor = byName(prod, "gcp:binaryauthorization/attestor:Attestor", "binauthz");
    expect(attestor.inputs.attestationAuthorityNote.publicKeys).toEqual([
      {
        id: pkixKeyId(prod.config!.signatureKeys!.gcp!),
        comment: "the source stack's signing key (multicloud-deploy:signatureKeys.gcp)",
        pkixPublicKey: {
          publicKeyPem: prod.config!.signatureKeys!.gcp,
          signatureAlgorithm: "ECDSA_P256_SHA256",
        },
      },
    ]);
    expect(
      byName(prod, "gcp:containeranalysis/noteIamMember:NoteIamMember", "binauthz-note-viewer").inputs,
    ).toMatchObject({
      role: "roles/containeranalysis.notes.occurrences.viewer",
      member: expect.stringMatching(
        /^serviceAccount:service-\d+@gcp-sa-binaryauthorization\.iam\.gserviceaccount\.com$/,
      ),
    });
    // Lambda cannot enforce an image signature: no attest step, and staging attests nothing.
    expect(
      ofType(prod, "command:local:Command")
        .map((c) => c.name)
        .filter((n) => n.endsWith("-attest")),
    ).toEqual(["api-attest"]);
    expect(ofType(staging, "gcp:binaryauthorization/attestor:Attestor")).toEqual([]);
    expect(
      byName(staging, "gcp:cloudrunv2/service:Service", "api").inputs.binaryAuthorization,
    ).toBeUndefined();
  });

  it("with enforce: false keeps the attestor, writes no attestation and turns enforcement off (the reviewed way past it)", async () => {
    const run = await runProgram({
      stack: "prod",
      commit: SHA,
      overrides: { binaryAuthorization: { attestor: "multicloud-deploy", enforce: false } },
      stackOutputs: { "acme/multicloud-deploy/staging": staging.outputs },
    });
    // Retained, as its note and grant: the project's policy names it.
    for (const [type, name] of [
      ["gcp:binaryauthorization/attestor:Attestor", "binauthz"],
      ["gcp:containeranalysis/note:Note", "binauthz-note"],
      ["gcp:containeranalysis/noteIamMember:NoteIamMember", "binauthz-note-viewer"],
    ] as const)
      expect(byName(run, type, name).retainOnDelete, name).toBe(true);
    expect(ofType(run, "command:local:Command").filter((c) => c.name.endsWith("-attest"))).toEqual([]);
    expect(byName(run, "gcp:cloudrunv2/service:Service", "api").inputs.binaryAuthorization).toBeUndefined();
  });

  it("every image, built or promoted, waits for its registry's scan under the stack's scanGate before any service uses it", () => {
    for (const [run, stack] of [
      [staging, "staging"],
      [prod, "prod"],
    ] as const) {
      for (const [svc, type, property] of [
        ["api", "gcp:cloudrunv2/service:Service", "template"],
        ["worker", "aws:lambda/function:Function", "imageUri"],
      ] as const) {
        const scan = byName(run, "command:local:Command", `${svc}-scan`);
        const { digest, repositoryUrl } = run.outputs.images[svc];
        expect(scan.inputs.create, stack).toBe(
          `node_modules/.bin/tsx scripts/scan-gate.ts ${repositoryUrl}@${digest} --max-critical 0 --deadline-seconds 900`,
        );
        expect(scan.inputs.environment).toEqual({ MULTICLOUD_DEPLOY_STEP: "scan-gate" });
        expect(scan.dependencies).toContain(byName(run, "command:local:Command", `${svc}-verify`).urn);
        expect(byName(run, type, svc).propertyDependencies?.[property]).toContain(scan.urn);
      }
    }
  });

  it("prod has no build cache repository and exports the same digests under the same names", () => {
    expect(ofType(prod, "gcp:artifactregistry/repository:Repository").map((r) => r.name)).toEqual([
      "images-repo",
    ]);
    for (const svc of ["api", "worker"]) {
      const { digest, tag, platform, commitSha } = staging.outputs.images[svc];
      expect(prod.outputs.images[svc]).toMatchObject({ digest, tag, platform, commitSha, verified: true });
    }
  });

  it("refuses to promote images of another commit on update, and only warns in a preview", async () => {
    const other = "f".repeat(40);
    const stackOutputs = { "acme/multicloud-deploy/staging": staging.outputs };
    await expect(runProgram({ stack: "prod", commit: other, stackOutputs })).rejects.toThrow(
      `stack acme/multicloud-deploy/staging output images.api.commitSha is ${SHA} but this update deploys commit ${other}`,
    );
    const preview = await runProgram({ stack: "prod", commit: other, stackOutputs, preview: true });
    expect(byName(preview, "gcp:cloudrunv2/service:Service", "api")).toBeDefined();
    expect(preview.logs).toContainEqual({
      severity: "warning",
      message:
        `api: acme/multicloud-deploy/staging runs commit ${SHA}, this preview is at ${other}; ` +
        "an update at this commit would be refused until that stack runs it",
    });
  });

  it("rolls a service back to an earlier digest from prod's own registry, whatever staging runs", async () => {
    const earlier = {
      digest: `sha256:${"e".repeat(64)}`,
      tag: `${"e".repeat(40)}-amd64-0badc0de`,
      commitSha: "e".repeat(40),
    };
    const run = await runProgram({
      stack: "prod",
      commit: SHA,
      overrides: { rollback: { api: earlier } },
      // Staging no longer needs to export api at all.
      stackOutputs: {
        "acme/multicloud-deploy/staging": { images: { worker: staging.outputs.images.worker } },
      },
    });
    const repo = "us-central1-docker.pkg.dev/acme-apps-prod/apps/api";
    // Nothing is copied; the signature its promotion copied here is checked, for the earlier commit.
    const check = byName(run, "command:local:Command", "api-promote");
    expect(check.inputs.create).toBe(
      `node_modules/.bin/tsx scripts/promote-image.ts ${repo}@${earlier.digest} ${repo} --signed-for ${earlier.commitSha} --signed-by staging`,
    );
    expect(check.inputs.environment.SIGNATURE_PUBLIC_KEY).toContain("-----BEGIN PUBLIC KEY-----");
    expect(byName(run, "command:local:Command", "api-verify").inputs.create).toContain(
      `--tag ${earlier.tag}`,
    );
    expect(byName(run, "gcp:cloudrunv2/service:Service", "api").inputs.template.containers[0].image).toBe(
      `${repo}@${earlier.digest}`,
    );
    expect(run.outputs.images.api).toMatchObject({ digest: earlier.digest, commitSha: earlier.commitSha });
    expect(run.outputs.images.worker.digest).toBe(staging.outputs.images.worker.digest);
    expect(run.logs.filter((l) => l.severity === "warning").map((l) => l.message)).toEqual([
      `api: rolled back to ${earlier.commitSha} (${earlier.digest}) by multicloud-deploy:rollback; remove the key once the fix is deployed`,
    ]);
  });

  it("stops before registering anything but the reference when staging's outputs are missing or malformed", async () => {
    const images = { api: { ...staging.outputs.images.api, digest: "latest" } };
    const run = runProgram({
      stack: "prod",
      commit: SHA,
      stackOutputs: { "acme/multicloud-deploy/staging": { ...staging.outputs, images } },
    });
    await expect(run).rejects.toThrow(
      "Pulumi.prod.yaml: multicloud-deploy:promoteFrom: cannot promote from acme/multicloud-deploy/staging: 2 problems (nothing was deployed)\n" +
        '  - stack acme/multicloud-deploy/staging output images.api.digest: expected a manifest digest "sha256:<64 hex>"\n' +
        "  - stack acme/multicloud-deploy/staging output images.worker is missing: deploy worker to acme/multicloud-deploy/staging first, or remove it from this stack",
    );
  });

  it("names the stack file and key when the source stack has no images output", async () => {
    await expect(
      runProgram({ stack: "prod", commit: SHA, stackOutputs: { "acme/multicloud-deploy/staging": {} } }),
    ).rejects.toThrow(
      "Pulumi.prod.yaml: multicloud-deploy:promoteFrom: cannot promote from acme/multicloud-deploy/staging: 1 problem (nothing was deployed)\n" +
        '  - stack acme/multicloud-deploy/staging has no output "images" (got nothing): run `pulumi up` on acme/multicloud-deploy/staging first;',
    );
  });
});

describe("config errors", () => {
  it("stop the program before any resource is registered, naming file and key", async () => {
    await expect(
      runProgram({ stack: "staging", commit: SHA, overrides: { services: { api: { memory: "lots" } } } }),
    ).rejects.toThrow(
      'Pulumi.staging.yaml: multicloud-deploy:services.api.memory: expected Cloud Run memory like "512Mi", got "lots"',
    );
  });

  it("check the Google region and repository location against the APIs' lists before registering anything (issue 21)", async () => {
    const config = { ...loadStackConfig("staging"), "gcp:region": "us-centrall1" };
    await expect(runProgram({ stack: "staging", commit: SHA, config })).rejects.toThrow(
      "Pulumi.staging.yaml: 1 configuration error (nothing was deployed)\n" +
        '  - Pulumi.staging.yaml: gcp:region: "us-centrall1" is not a Cloud Run region of project acme-apps-staging (the API lists 40); did you mean "us-central1"?',
    );
    const moved = {
      ...loadStackConfig("staging"),
      "multicloud-deploy:artifactRegistry": { repositoryId: "apps", location: "europe-west99" },
    };
    await expect(runProgram({ stack: "staging", commit: SHA, config: moved })).rejects.toThrow(
      '  - Pulumi.staging.yaml: multicloud-deploy:artifactRegistry.location: "europe-west99" is not an Artifact Registry location of project acme-apps-staging (the API lists 43); did you mean "europe-west9"?',
    );
  });

  it("refuse an ECR encryption change on an existing repository, which could only be replaced under its own name (issue 21)", async () => {
    const kms = "arn:aws:kms:us-east-1:111111111111:key/0f0f0f0f-1111-2222-3333-444455556666";
    const existing = { "multicloud-deploy-staging/worker": { encryptionType: "AES256" } };
    await expect(
      runProgram({
        stack: "staging",
        commit: SHA,
        ecrRepositories: existing,
        overrides: { ecr: { kmsKeyArn: kms } },
      }),
    ).rejects.toThrow(
      `Pulumi.staging.yaml: multicloud-deploy:ecr.kmsKeyArn: "${kms}" differs from the encryption of the existing repository multicloud-deploy-staging/worker (AES256); ECR cannot change a repository's encryption`,
    );
    // The same setting on a new stack, or the setting the repository has, registers everything.
    const fresh = await runProgram({ stack: "staging", commit: SHA, overrides: { ecr: { kmsKeyArn: kms } } });
    expect(
      byName(fresh, "aws:ecr/repository:Repository", "worker-repo").inputs.encryptionConfigurations,
    ).toEqual([{ encryptionType: "KMS", kmsKey: kms }]);
    await expect(
      runProgram({ stack: "staging", commit: SHA, ecrRepositories: existing }),
    ).resolves.toBeDefined();
  });
});
