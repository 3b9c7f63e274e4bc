/**
 * Reads the project's stack files as the Pulumi CLI would for the offline plan: `Pulumi.<stack>.yaml`'s
 * `config:` over the defaults Pulumi.yaml declares. Every failure is a {@link UserError} naming the
 * file (and, for YAML syntax, the line where the mistake starts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { PROJECT } from "../lib/config/project";
import { UserError } from "../lib/errors";

/** The stacks that have a file in `projectDir`, sorted. */
export function listStacks(projectDir: string): string[] {
  return fs
    .readdirSync(projectDir)
    .map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/**
 * The line a quoted scalar that is never closed starts on. YAML lets a quoted scalar run over many
 * lines, so the parser only notices at the end of the file; the mistake is the first line that opens
 * a quote it does not close.
 */
function unclosedQuoteLine(text: string, quote: string): number | undefined {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*(?:-\s+|[^#'"\s][^#'"]*:\s+)(['"])(.*)$/.exec(lines[i]!);
    if (!m || m[1] !== quote) continue;
    const rest = quote === "'" ? m[2]!.replace(/''/g, "") : m[2]!.replace(/\\./g, "");
    if (!rest.includes(quote)) return i + 1;
  }
  return undefined;
}

/** Parses YAML, or throws a UserError naming `file`, the line and column, and the mistake. */
export function parseYamlFile(file: string, text: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length === 0) return doc.toJS();
  const problems = doc.errors.map((e) => {
    let [line, col] = [e.linePos?.[0].line ?? 1, e.linePos?.[0].col ?? 1];
    let what = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    const quote = /^Missing closing (['"])quote/.exec(what)?.[1];
    const opened = quote ? unclosedQuoteLine(text, quote) : undefined;
    if (quote && opened !== undefined) {
      line = opened;
      col = text.split("\n")[opened - 1]!.indexOf(quote) + 1;
      what = `this ${quote === '"' ? "double" : "single"}-quoted value is never closed; add the closing ${quote}`;
    }
    const source = text.split("\n")[line - 1] ?? "";
    return `${file}:${line}:${col}: ${what}\n      ${source}\n      ${" ".repeat(Math.max(0, col - 1))}^`;
  });
  throw new UserError(`${file}: not valid YAML (nothing was planned)`, problems);
}

/** The stack file's `config:` map with Pulumi.yaml's declared defaults under it, as the CLI merges them. */
export function loadStackConfig(stack: string, projectDir: string): Record<string, unknown> {
  const read = (file: string) => parseYamlFile(file, fs.readFileSync(path.join(projectDir, file), "utf8"));
  const projectFile = read("Pulumi.yaml") as { config?: Record<string, { default?: unknown }> };
  const file = `Pulumi.${stack}.yaml`;
  if (!fs.existsSync(path.join(projectDir, file))) {
    const stacks = listStacks(projectDir);
    throw new UserError(`no stack "${stack}": ${file} does not exist in ${projectDir}`, [
      `stacks with a file here: ${stacks.join(", ") || "none"}; pick one with --stack, or create ${file}`,
    ]);
  }
  const stackFile = (read(file) ?? {}) as { config?: Record<string, unknown> };
  const merged: Record<string, unknown> = {};
  for (const [key, decl] of Object.entries(projectFile.config ?? {})) {
    if (decl && typeof decl === "object" && "default" in decl) merged[`${PROJECT}:${key}`] = decl.default;
  }
  return { ...merged, ...(stackFile.config ?? {}) };
}
