/** The --state diff's IAM rule: a delete or a replace that would revoke a binding the plan keeps. */
import { describe, expect, it } from "vitest";
import type { RecordedResource } from "../../plan/run";
import { diffAgainstState, iamBinding, type ExportedResource } from "../../plan/state-diff";

const TYPE = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember";
const grant = {
  project: "p",
  location: "us-central1",
  name: "api",
  role: "roles/run.invoker",
  member: "user:a@x.com",
};
const urn = (name: string) => `urn:pulumi:s::proj::multicloud:gcp:CloudRunService$${TYPE}::${name}`;
const planned = (name: string, inputs: Record<string, unknown>): RecordedResource =>
  ({
    urn: urn(name),
    type: TYPE,
    name,
    custom: true,
    rawInputs: inputs,
    aliasUrns: [],
  }) as unknown as RecordedResource;
const old = (name: string, inputs: Record<string, unknown>): ExportedResource => ({
  urn: urn(name),
  type: TYPE,
  inputs,
});

describe("diffAgainstState and IAM bindings", () => {
  it("flags a deleted grant whose binding a kept grant holds, and not one whose binding goes too", () => {
    const changes = diffAgainstState(
      [planned("api-invoker-user-a-x-com", grant)],
      [
        old("api-invoker-user-a-x-com", grant),
        old("api-health-invoker", grant),
        old("api-gone", { ...grant, member: "user:b@x.com" }),
      ],
    );
    const deleted = changes.filter((c) => c.change === "delete").map((c) => [c.name, c.revokes]);
    expect(deleted).toEqual([
      ["api-health-invoker", iamBinding(TYPE, grant)],
      ["api-gone", undefined],
    ]);
  });

  it("flags a replaced grant of the same binding (created first, then the old one deleted)", () => {
    const changes = diffAgainstState(
      [planned("api-invoker-user-a-x-com", { ...grant, member: "user:A@x.com" })],
      [old("api-invoker-user-a-x-com", grant)],
    );
    expect(changes[0]).toMatchObject({
      change: "replace",
      changed: ["member"],
      revokes: iamBinding(TYPE, grant),
    });
  });

  it("finds a renamed grant by its alias, with nothing to change", () => {
    const renamed = { ...planned("api-invoker-allusers", grant), aliasUrns: [urn("api-public-invoker")] };
    const changes = diffAgainstState([renamed as RecordedResource], [old("api-public-invoker", grant)]);
    expect(changes).toEqual([
      expect.objectContaining({
        change: "same",
        name: "api-invoker-allusers",
        renamedFrom: urn("api-public-invoker"),
      }),
    ]);
  });
});
