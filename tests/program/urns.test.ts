/**
 * Every URN the staging and prod stacks register, held in a snapshot. A URN is a resource's identity
 * in the state: renaming a child, a type token or a parent replaces the real resource (a Cloud Run
 * service deleted and created, an IAM binding dropped). Such a change must be deliberate: update the
 * snapshot (`npx vitest -u tests/program/urns.test.ts`) in the same commit, with `aliases` for what
 * must not be replaced.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ProgramRun } from "../../plan/run";
import { stacks } from "../harness/stacks";

let staging: ProgramRun;
let prod: ProgramRun;
beforeAll(async () => {
  ({ staging, prod } = await stacks());
}, 60_000);

/** Each URN, with the URNs it had before (its aliases), which keep a renamed resource in place. */
const urns = (run: ProgramRun) =>
  run.resources.map((r) => (r.aliasUrns.length ? `${r.urn} <- ${r.aliasUrns.join(", ")}` : r.urn)).sort();

describe("resource identities (URNs)", () => {
  it("staging registers exactly these", () => {
    expect(urns(staging)).toMatchSnapshot();
  });

  it("prod registers exactly these", () => {
    expect(urns(prod)).toMatchSnapshot();
  });
});
