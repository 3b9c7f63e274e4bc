/**
 * The sample apps' Dockerfiles cannot be built here (no base image can be pulled), so their shape is
 * checked instead: what the product promises about images that a Dockerfile alone can break.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_DIR, loadStackConfig } from "../../plan/run";

interface Stage {
  from: string;
  lines: string[];
}

function stages(dockerfile: string): Stage[] {
  const out: Stage[] = [];
  const logical = fs
    .readFileSync(dockerfile, "utf8")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  for (const line of logical) {
    const from = /^FROM\s+(.*)$/i.exec(line);
    if (from) out.push({ from: from[1]!, lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}

const services = Object.entries(
  loadStackConfig("staging")["multicloud-deploy:services"] as Record<
    string,
    { context: string; dockerfile?: string }
  >,
);

describe.each(services)("the %s sample image", (name, svc) => {
  const dockerfile = path.join(PROJECT_DIR, svc.context, svc.dockerfile ?? "Dockerfile");
  const built = stages(dockerfile);
  const final = built.at(-1);

  it("is a multi-stage build whose runtime stage copies from the build stage", () => {
    expect(built.length, `${name}: ${dockerfile} has ${built.length} stage(s)`).toBeGreaterThanOrEqual(2);
    expect(final!.lines.some((l) => /^COPY\s+--from=build\b/i.test(l))).toBe(true);
  });

  it("leaves the platform to the program (no FROM --platform) and runs a minimal, non-root base", () => {
    for (const s of built) expect(s.from).not.toMatch(/--platform/);
    const base = final!.from.split(/\s+/)[0]!;
    if (base.startsWith("gcr.io/distroless/")) {
      expect(base.endsWith(":nonroot"), base).toBe(true);
      expect(final!.lines).toContain("USER nonroot");
    } else {
      // Lambda runs container images as its own unprivileged user.
      expect(base).toMatch(/^public\.ecr\.aws\/lambda\/nodejs:\d+$/);
    }
  });

  it("has a .dockerignore that keeps everything but the sources out of the context", () => {
    const ignore = fs.readFileSync(path.join(PROJECT_DIR, svc.context, ".dockerignore"), "utf8").split("\n");
    expect(ignore).toContain("*");
    expect(ignore).toContain("!src/");
  });
});
