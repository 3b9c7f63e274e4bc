/**
 * Every literal `@default` documented on a component arg is the constant the component applies
 * (lib/service-defaults.ts), so the docs a user reads in their editor cannot drift from behaviour.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { CLOUD_RUN_DEFAULTS, LAMBDA_DEFAULTS, REGISTRY_DEFAULTS } from "../../lib/service-defaults";
import { PROJECT_DIR } from "../../plan/run";

/** Arg name → the constant its component falls back to, per args interface. */
const OWNERS: Record<string, Record<string, unknown>> = {
  CloudRunServiceArgs: CLOUD_RUN_DEFAULTS,
  LambdaFunctionArgs: LAMBDA_DEFAULTS,
  ArtifactRegistryRepositoryArgs: {
    keepTaggedVersions: REGISTRY_DEFAULTS.keepTagged,
    deleteUntaggedAfterDays: REGISTRY_DEFAULTS.untaggedDays,
  },
  EcrRepositoryArgs: {
    keepTaggedImages: REGISTRY_DEFAULTS.keepTagged,
    expireUntaggedAfterDays: REGISTRY_DEFAULTS.untaggedDays,
  },
};

/** `@default` texts of every property of every `*Args` interface in components/. */
function documentedDefaults(): Array<{ iface: string; arg: string; text: string }> {
  const out: Array<{ iface: string; arg: string; text: string }> = [];
  const dir = path.join(PROJECT_DIR, "components");
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const source = ts.createSourceFile(
      file,
      fs.readFileSync(path.join(dir, file), "utf8"),
      ts.ScriptTarget.ES2022,
      true,
    );
    source.forEachChild((node) => {
      if (!ts.isInterfaceDeclaration(node) || !node.name.text.endsWith("Args")) return;
      for (const member of node.members) {
        if (!ts.isPropertySignature(member)) continue;
        for (const tag of ts.getJSDocTags(member)) {
          if (tag.tagName.text !== "default") continue;
          const text = (
            typeof tag.comment === "string" ? tag.comment : (ts.getTextOfJSDocComment(tag.comment) ?? "")
          ).trim();
          out.push({ iface: node.name.text, arg: member.name.getText(source), text });
        }
      }
    });
  }
  return out;
}

describe("component @default docs", () => {
  const all = documentedDefaults();

  it("finds the documented defaults", () => {
    expect(all.filter((d) => OWNERS[d.iface]?.[d.arg] !== undefined).length).toBeGreaterThan(15);
  });

  it("state the value the component applies, wherever a constant owns it", () => {
    const wrong = all
      .filter((d) => OWNERS[d.iface]?.[d.arg] !== undefined && !d.text.startsWith("-"))
      .filter((d) => {
        const literal = d.text.split(/\s/)[0]!;
        return JSON.stringify(OWNERS[d.iface]![d.arg]) !== literal;
      })
      .map(
        (d) => `${d.iface}.${d.arg}: @default ${d.text}, applies ${JSON.stringify(OWNERS[d.iface]![d.arg])}`,
      );
    expect(wrong).toEqual([]);
  });
});
