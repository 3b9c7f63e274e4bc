/**
 * lib/config/zod-issues.ts reads zod internals (`_zod.def`) to find the keys a misspelt key could
 * have meant. A zod upgrade that moves one must fail here, by name, not as a config error that
 * silently stops suggesting keys.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { describeIssues, keyPath, objectKeysAt } from "../../lib/config/zod-issues";

const leaf = z.strictObject({ alpha: z.string(), beta: z.number() });
/** Every wrapper objectKeysAt walks through, on the way to `leaf`. */
const schema = z.strictObject({
  defaulted: leaf.default({ alpha: "a", beta: 1 }),
  prefaulted: leaf.prefault({ alpha: "a", beta: 1 }),
  optional: leaf.optional(),
  nullable: leaf.nullable(),
  piped: z.preprocess((v) => v, leaf),
  record: z.record(z.string(), leaf),
  array: z.array(leaf),
});

describe("the zod internals behind config messages", () => {
  it.each([
    ["default", ["defaulted"]],
    ["prefault", ["prefaulted"]],
    ["optional", ["optional"]],
    ["nullable", ["nullable"]],
    ["pipe (preprocess)", ["piped"]],
    ["record value type", ["record", "any-key"]],
    ["array element", ["array", 0]],
  ] as const)("finds an object's keys through %s (`_zod.def`)", (_what, at) => {
    expect(objectKeysAt(schema, at)).toEqual(["alpha", "beta"]);
  });

  it("names the closest known key for an unknown one, with the file and the full key path", () => {
    const result = schema.safeParse({
      nullable: null,
      piped: { alpha: "a", beta: 1 },
      record: {},
      array: [{ alpha: "a", beta: 1, alpah: "x" }],
    });
    expect(result.success).toBe(false);
    expect(describeIssues(result.error!.issues, schema, ["services"], "Pulumi.staging.yaml")).toEqual([
      'Pulumi.staging.yaml: multicloud-deploy:services.array[0].alpah: unknown key; did you mean "alpha"? (known keys: alpha, beta)',
    ]);
    expect(keyPath(["a", 0, "b"])).toBe("a[0].b");
  });
});
