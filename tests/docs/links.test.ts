/**
 * Every relative link in the repository's Markdown resolves: to a file that exists and, with a
 * `#fragment`, to a heading of that file (GitHub's anchor rule: lower-cased, punctuation dropped,
 * spaces to hyphens).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_DIR } from "../../plan/run";

const pages = spawnSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.md"], {
  cwd: PROJECT_DIR,
  encoding: "utf8",
})
  .stdout.split("\n")
  .filter((f) => f && fs.existsSync(path.join(PROJECT_DIR, f)));

/** GitHub's heading anchors of a Markdown file (outside code fences). */
function anchors(file: string): Set<string> {
  const out = new Set<string>();
  let fence = false;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("```")) fence = !fence;
    const m = !fence && /^#{1,6} (.+)$/.exec(line);
    if (m) {
      out.add(
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N} _-]/gu, "")
          .replace(/ /g, "-"),
      );
    }
  }
  return out;
}

describe("Markdown links", () => {
  it("finds the pages", () => {
    expect(pages).toEqual(expect.arrayContaining(["README.md", "docs/config.md", "CONTRIBUTING.md"]));
  });

  it.each(pages)("%s: every relative link resolves", (page) => {
    const text = fs.readFileSync(path.join(PROJECT_DIR, page), "utf8").replace(/```[\s\S]*?```/g, "");
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!) || target!.startsWith("mailto:")) continue;
      const [file, fragment] = target!.split("#");
      const resolved = file ? path.join(PROJECT_DIR, path.dirname(page), file) : path.join(PROJECT_DIR, page);
      if (!fs.existsSync(resolved)) broken.push(`${target}: no such file`);
      else if (fragment && resolved.endsWith(".md") && !anchors(resolved).has(fragment)) {
        broken.push(`${target}: no heading #${fragment}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
