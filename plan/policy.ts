/**
 * Runs the policy pack's rules over a recorded program run (or hand-built resources) the way
 * `@pulumi/policy` 1.21's analyzer server does, without starting it: properties go through the SDK's
 * own `deserializeProperties` and `unknownCheckingProxy` (so a read of a preview-unknown value throws
 * as in a real preview), enforcement levels resolve as the server resolves them, `notApplicable`
 * throws, `getConfig` returns the policy's config without `enforcementLevel`, and stack policies see
 * parents, dependencies and property dependencies as resource objects.
 *
 * Used by the policy tests, the offline plan and the benchmarks.
 */
import type {
  EnforcementLevel,
  Policies,
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { PROJECT_DIR, type ProgramRun } from "./run";
import { policySdk } from "./sdk-internals";

const { deserializeProperties, unknownCheckingProxy, UnknownValueError } = policySdk(PROJECT_DIR);

/** A resource as the engine hands it to a policy pack: serialized properties and its graph edges. */
export interface PolicyInput {
  type: string;
  name: string;
  urn: string;
  /** Serialized properties (unknowns are the preview sentinel). */
  props: Record<string, any>;
  parent?: string;
  dependencies?: string[];
  propertyDependencies?: Record<string, string[]>;
  protect?: boolean;
}

export type PackConfig = Record<
  string,
  EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>)
>;

export interface Diagnostic {
  policyName: string;
  enforcementLevel: EnforcementLevel;
  /** What the rule reported (without the policy description the CLI prints above it). */
  message: string;
  urn?: string;
  resourceName?: string;
}

export interface PolicyResult {
  diagnostics: Diagnostic[];
  /** Mandatory diagnostics: each one fails `pulumi preview`/`up`. */
  mandatory: Diagnostic[];
  notApplicable: Array<{ policyName: string; reason: string; urn?: string }>;
}

export interface EvaluateOptions {
  policies: Policies;
  /** Pack config as in `--policy-pack-config` (`all` and per-policy keys). */
  config?: PackConfig;
  packEnforcementLevel?: EnforcementLevel;
  stackTags?: Record<string, string>;
}

class NotApplicableError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}
const throwNotApplicable = (reason?: string): never => {
  throw new NotApplicableError(reason ?? "");
};

const freeze = (tags: Record<string, string>): ReadonlyMap<string, string> => new Map(Object.entries(tags));

function levelOf(
  p: { name: string; enforcementLevel?: EnforcementLevel },
  options: EvaluateOptions,
): EnforcementLevel {
  const configured = (key: string) => {
    const c = options.config?.[key];
    return typeof c === "string" ? c : c?.enforcementLevel;
  };
  return (
    configured(p.name) ??
    configured("all") ??
    p.enforcementLevel ??
    options.packEnforcementLevel ??
    "advisory"
  );
}

function configOf(name: string, options: EvaluateOptions): object {
  const c = options.config?.[name];
  if (!c || typeof c === "string") return {};
  const { enforcementLevel: _level, ...rest } = c;
  return rest;
}

const isStackPolicy = (p: ResourceValidationPolicy | StackValidationPolicy): p is StackValidationPolicy =>
  "validateStack" in p && typeof p.validateStack === "function";

/** The engine's view of a recorded run: inputs for resource policies, state for stack policies. */
export function policyInputs(run: ProgramRun, view: "inputs" | "state"): PolicyInput[] {
  return run.resources.map((r) => ({
    type: r.type,
    name: r.name,
    urn: r.urn,
    // In a preview the state of a new resource is its inputs with unknowns left in.
    props: view === "inputs" || run.preview ? r.rawInputs : r.rawOutputs,
    parent: r.parent,
    dependencies: r.dependencies,
    propertyDependencies: r.propertyDependencies,
    protect: r.protect,
  }));
}

/** Resource options as the analyzer passes them; the program sets none the rules read but `protect`. */
const optionsOf = (r: PolicyInput) => ({
  protect: Boolean(r.protect),
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
  parent: r.parent,
});

const isTypeOf = (r: PolicyInput) => (cls: unknown) =>
  (cls as { __pulumiType?: string }).__pulumiType === r.type;

const deserialize = (props: Record<string, any>) =>
  unknownCheckingProxy(deserializeProperties({ toJavaScript: () => props }, false));

/** Runs every policy over the resources and returns what the CLI would print. */
export async function evaluatePolicies(
  resources: { inputs: PolicyInput[]; state: PolicyInput[] },
  options: EvaluateOptions,
): Promise<PolicyResult> {
  const diagnostics: Diagnostic[] = [];
  const notApplicable: PolicyResult["notApplicable"] = [];
  const stackTags = freeze(options.stackTags ?? {});
  const names = new Map(resources.inputs.map((r) => [r.urn, r.name]));

  for (const p of options.policies) {
    let level = levelOf(p, options);
    if (level === "disabled") continue;
    if (level === "remediate") level = "mandatory";
    const report =
      (urnDefault?: string) =>
      (message: string | object, urn?: string): void => {
        const text = typeof message === "string" ? message : JSON.stringify(message);
        const at = urn ?? urnDefault;
        diagnostics.push({
          policyName: p.name,
          enforcementLevel: level,
          message: text,
          urn: at,
          resourceName: at ? names.get(at) : undefined,
        });
      };
    const handle = (err: unknown, urn?: string) => {
      if (err instanceof UnknownValueError) {
        diagnostics.push({
          policyName: p.name,
          enforcementLevel: "advisory",
          message: `can't run policy '${p.name}' during preview: ${(err as Error).message}`,
          urn,
          resourceName: urn ? names.get(urn) : undefined,
        });
      } else if (err instanceof NotApplicableError) {
        notApplicable.push({ policyName: p.name, reason: err.reason, urn });
      } else {
        throw err;
      }
    };

    if (isStackPolicy(p)) {
      const byUrn = new Map<string, PolicyResource>();
      const built = resources.state.map((r) => {
        const props = deserialize(r.props);
        const resource: PolicyResource = {
          type: r.type,
          name: r.name,
          urn: r.urn,
          props,
          opts: optionsOf(r),
          dependencies: [],
          propertyDependencies: {},
          isType: isTypeOf(r),
          asType: () => undefined,
        } as unknown as PolicyResource;
        byUrn.set(r.urn, resource);
        return { r, resource };
      });
      for (const { r, resource } of built) {
        if (r.parent && byUrn.has(r.parent))
          (resource as { parent?: PolicyResource }).parent = byUrn.get(r.parent);
        (resource as { dependencies: PolicyResource[] }).dependencies = (r.dependencies ?? [])
          .map((u) => byUrn.get(u))
          .filter((x): x is PolicyResource => x !== undefined);
        for (const [k, urns] of Object.entries(r.propertyDependencies ?? {})) {
          resource.propertyDependencies[k] = urns
            .map((u) => byUrn.get(u))
            .filter((x): x is PolicyResource => x !== undefined);
        }
      }
      const args: StackValidationArgs = {
        resources: built.map((b) => b.resource),
        getConfig: <T extends object>() => configOf(p.name, options) as T,
        stackTags,
        notApplicable: throwNotApplicable,
      } as StackValidationArgs;
      try {
        await p.validateStack(args, report());
      } catch (err) {
        handle(err);
      }
      continue;
    }

    const validations = p.validateResource
      ? Array.isArray(p.validateResource)
        ? p.validateResource
        : [p.validateResource]
      : [];
    for (const r of resources.inputs) {
      for (const validate of validations) {
        const args = {
          type: r.type,
          name: r.name,
          urn: r.urn,
          props: deserialize(r.props),
          opts: optionsOf(r),
          stackTags,
          isType: isTypeOf(r),
          asType: () => undefined,
          getConfig: <T extends object>() => configOf(p.name, options) as T,
          notApplicable: throwNotApplicable,
        } as ResourceValidationArgs;
        try {
          await validate(args, report(r.urn));
        } catch (err) {
          handle(err, r.urn);
        }
      }
    }
  }
  return {
    diagnostics,
    mandatory: diagnostics.filter((d) => d.enforcementLevel === "mandatory"),
    notApplicable,
  };
}

/** Evaluates a recorded program run: resource policies on inputs, stack policies on state. */
export function evaluateRun(run: ProgramRun, options: EvaluateOptions): Promise<PolicyResult> {
  return evaluatePolicies(
    { inputs: policyInputs(run, "inputs"), state: policyInputs(run, "state") },
    options,
  );
}
