/** The README's "Adding a service" example is a valid stack file, and does what its comments say. */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { parseStackConfig } from "../../lib/config/parse";
import { PROJECT_DIR } from "../../plan/run";

const readme = fs.readFileSync(path.join(PROJECT_DIR, "README.md"), "utf8");
const block = /## Adding a service[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)![1]!;
const example = YAML.parse(block).config as Record<string, unknown>;

describe("README: adding a service", () => {
  it("validates with the staging stack provider settings (its contexts taken as present)", () => {
    const config = parseStackConfig(
      {
        project: { services: JSON.stringify(example["multicloud-deploy:services"]) },
        providers: {
          "gcp:project": "acme-apps-staging",
          "gcp:region": "us-central1",
          "aws:region": "us-east-1",
        },
      },
      {
        stack: "staging",
        file: "Pulumi.staging.yaml",
        projectDir: PROJECT_DIR,
        resolveCommit: () => ({ sha: "0".repeat(40), source: "git", dirty: false, timestamp: 0, notes: [] }),
        exists: () => true,
      },
    );
    const byName = Object.fromEntries(config.services.map((s) => [s.name, s]));
    expect(byName.web).toMatchObject({
      target: "cloudrun",
      platform: "linux/amd64",
      exposure: "public",
      rollout: { steps: [10, 50], waitSeconds: 60 },
    });
    expect(byName.thumbnails).toMatchObject({ target: "lambda", platform: "linux/arm64" });
  });
});
