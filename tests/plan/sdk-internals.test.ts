/**
 * The offline plan relies on SDK internals (plan/sdk-internals.ts). An `@pulumi/pulumi` or
 * `@pulumi/policy` upgrade that moves one must fail here, by name, not as a plan that silently
 * records nothing.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { PROJECT_DIR } from "../../plan/run";
import {
  captureLogs,
  interceptComponentOutputs,
  interceptRegistrations,
  policySdk,
  waitForRPCs,
  type RegisterRequest,
  type RegisterResponse,
} from "../../plan/sdk-internals";

describe("the SDK internals the offline plan uses still exist and behave", () => {
  it("sees every registration with its parent, options and the mocks' answer", async () => {
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => ({ id: `${args.name}-id`, state: { ...args.inputs, answered: true } }),
        call: () => ({}),
      },
      "sdk-check",
      "test",
      false,
    );
    const seen: Array<[RegisterRequest, RegisterResponse | undefined]> = [];
    interceptRegistrations(
      () => undefined,
      (req, res) => seen.push([req, res]),
    );
    const facts: Array<[string, Record<string, unknown>]> = [];
    interceptComponentOutputs((urn, outputs) => facts.push([urn, outputs]));
    class Thing extends pulumi.CustomResource {
      constructor(name: string, props: pulumi.Inputs, opts: pulumi.CustomResourceOptions) {
        super("test:index:Thing", name, props, opts);
      }
    }
    class Parent extends pulumi.ComponentResource {
      constructor() {
        super("test:index:Parent", "p");
        new Thing("t", { size: 3 }, { parent: this, protect: true, ignoreChanges: ["size"] });
        this.registerOutputs({ healthGate: false });
      }
    }
    new Parent();
    await waitForRPCs();
    expect(facts).toEqual([[expect.stringMatching(/test:index:Parent::p$/), { healthGate: false }]]);
    const thing = seen.find(([req]) => req.name === "t");
    expect(thing).toBeDefined();
    const [req, res] = thing!;
    expect(req).toMatchObject({
      type: "test:index:Thing",
      custom: true,
      protect: true,
      ignoreChanges: ["size"],
      inputs: { size: 3 },
    });
    expect(req.parent).toMatch(/test:index:Parent::p$/);
    expect(res?.urn).toMatch(/test:index:Parent\$test:index:Thing::t$/);
    expect(res?.outputs).toMatchObject({ size: 3, answered: true });
  });

  it("captures pulumi.log and restores it", async () => {
    const original = pulumi.log.warn;
    const got: string[] = [];
    const restore = captureLogs((severity, message) => got.push(`${severity}: ${message}`));
    await pulumi.log.warn("careful");
    restore();
    expect(got).toEqual(["warning: careful"]);
    expect(pulumi.log.warn).toBe(original);
  });

  it("resolves the policy SDK's deserializer and unknown-checking proxy", () => {
    const sdk = policySdk(PROJECT_DIR);
    const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // the engine's preview sentinel
    const props = sdk.deserializeProperties({ toJavaScript: () => ({ a: 1, b: unknown }) }, false);
    const proxied = sdk.unknownCheckingProxy(props);
    expect(proxied.a).toBe(1);
    expect(() => proxied.b).toThrow(sdk.UnknownValueError);
  });
});
