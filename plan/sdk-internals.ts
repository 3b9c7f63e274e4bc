/**
 * Every use of an SDK internal the offline plan makes, in one place: what `@pulumi/pulumi`'s mock
 * monitor does not pass to `setMocks` (parent, dependencies, resource options), the wait for its
 * outstanding RPCs, `pulumi.log` (printed to the console without an engine), and the property
 * deserializer and unknown-checking proxy `@pulumi/policy`'s analyzer server applies. None of them is
 * public API: `tests/plan/sdk-internals.test.ts` fails, naming the accessor, when an SDK upgrade moves one.
 */
import { createRequire } from "node:module";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as settings from "@pulumi/pulumi/runtime/settings";

/** The fields of a `RegisterResourceRequest` (the SDK's generated protobuf class) the plan reads. */
export interface RegisterRequest {
  type: string;
  name: string;
  custom: boolean;
  parent?: string;
  dependencies: string[];
  /** Input name → URNs that input came from. */
  propertyDependencies: Record<string, string[]>;
  protect: boolean;
  retainOnDelete: boolean;
  importId?: string;
  ignoreChanges: string[];
  /** URNs this resource had before (its `aliases`), as the engine resolves them. */
  aliasUrns: string[];
  /** Inputs, deserialized (unknowns and secrets as the SDK represents them). */
  inputs: Record<string, any>;
  /** Inputs as the engine sees them (the preview sentinel for unknowns, wrapped secrets). */
  rawInputs: Record<string, any>;
}

export interface RegisterResponse {
  urn: string;
  outputs: Record<string, any>;
  rawOutputs: Record<string, any>;
}

interface ProtoRequest {
  getType(): string;
  getName(): string;
  getCustom(): boolean;
  getParent(): string;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): {
    forEach(cb: (deps: { getUrnsList(): string[] }, key: string) => void): void;
  };
  getProtect(): boolean;
  getRetainondelete(): boolean;
  getImportid(): string;
  getIgnorechangesList(): string[];
  getAliasesList(): ProtoAlias[];
  // A google-protobuf Struct; typed loosely so the plan does not depend on google-protobuf directly.
  getObject(): any;
}

interface ProtoAlias {
  getUrn(): string;
  getSpec():
    { getName(): string; getType(): string; getParenturn(): string; getNoparent(): boolean } | undefined;
}

/**
 * The URN an alias names, as the mock monitor forms URNs (runtime/mocks.js `newUrn`: the parent's
 * own type, `$`, the type): a URN alias as given, a spec with this resource's name, type and parent
 * wherever it leaves one out.
 */
function aliasUrn(req: ProtoRequest, alias: ProtoAlias): string {
  const urn = alias.getUrn();
  if (urn) return urn;
  const spec = alias.getSpec()!;
  const parent = spec.getNoparent() ? "" : spec.getParenturn() || req.getParent();
  let type = spec.getType() || req.getType();
  if (parent) type = `${parent.split("::")[2]!.split("$").pop()}$${type}`;
  return `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${type}::${spec.getName() || req.getName()}`;
}

interface ProtoResponse {
  getUrn(): string;
  getObject(): any;
}

type Monitor = {
  registerResource(req: ProtoRequest, cb: (err: any, res: ProtoResponse | undefined) => void): unknown;
  registerResourceOutputs(req: { getUrn(): string; getOutputs(): any }, cb: (err: any) => void): unknown;
};

/** The SDK's (mock) resource monitor, failing by name when it no longer has `method`. */
function mockMonitor(method: keyof Monitor): Monitor {
  const monitor = pulumi.runtime.getMonitor() as unknown as Monitor | undefined;
  if (typeof monitor?.[method] !== "function") {
    throw new Error(`@pulumi/pulumi: runtime.getMonitor() has no ${method}; see plan/sdk-internals.ts`);
  }
  return monitor;
}

/**
 * Calls `onRequest` for every resource registration of the mocked monitor (after `setMocks`) and
 * `onResponse` with what the mocks answered, or the error the registration failed with.
 */
export function interceptRegistrations(
  onRequest: (req: RegisterRequest) => void,
  onResponse: (req: RegisterRequest, res: RegisterResponse | undefined, err: unknown) => void,
): void {
  const monitor = mockMonitor("registerResource");
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const propertyDependencies: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((deps, key) => {
      propertyDependencies[key] = deps.getUrnsList();
    });
    const request: RegisterRequest = {
      type: req.getType(),
      name: req.getName(),
      custom: Boolean(req.getCustom()),
      parent: req.getParent() || undefined,
      dependencies: req.getDependenciesList(),
      propertyDependencies,
      protect: Boolean(req.getProtect()),
      retainOnDelete: Boolean(req.getRetainondelete()),
      importId: req.getImportid() || undefined,
      ignoreChanges: req.getIgnorechangesList(),
      aliasUrns: req.getAliasesList().map((a) => aliasUrn(req, a)),
      inputs: pulumi.runtime.deserializeProperties(req.getObject()),
      rawInputs: req.getObject().toJavaScript(),
    };
    onRequest(request);
    return register(req, (err, res) => {
      onResponse(
        request,
        !err && res
          ? {
              urn: res.getUrn(),
              outputs: pulumi.runtime.deserializeProperties(res.getObject()),
              rawOutputs: res.getObject()?.toJavaScript() ?? {},
            }
          : undefined,
        err,
      );
      cb(err, res);
    });
  };
}

/**
 * Calls `onOutputs` with what each component passes to `registerOutputs` (its structured facts, e.g.
 * whether a service has a health gate), which the mock interface does not record.
 */
export function interceptComponentOutputs(
  onOutputs: (urn: string, outputs: Record<string, any>) => void,
): void {
  const monitor = mockMonitor("registerResourceOutputs");
  const register = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResourceOutputs = (req, cb) => {
    onOutputs(req.getUrn(), req.getOutputs() ? pulumi.runtime.deserializeProperties(req.getOutputs()) : {});
    return register(req, cb);
  };
}

/** Waits for the SDK's outstanding RPCs (registrations, outputs) to settle. */
export function waitForRPCs(): Promise<void> {
  const wait = (settings as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  if (typeof wait !== "function") {
    throw new Error("@pulumi/pulumi: runtime/settings has no waitForRPCs; see plan/sdk-internals.ts");
  }
  return wait();
}

/** Sends `pulumi.log.info` and `pulumi.log.warn` to `sink` until the returned function is called. */
export function captureLogs(sink: (severity: "info" | "warning", message: string) => void): () => void {
  const log = pulumi.log as unknown as Record<"info" | "warn", (msg: string) => Promise<void>>;
  const original = { info: log.info, warn: log.warn };
  log.info = async (message: string) => sink("info", message);
  log.warn = async (message: string) => sink("warning", message);
  return () => Object.assign(log, original);
}

/** What `@pulumi/policy`'s analyzer server applies to properties before a policy sees them. */
export interface PolicySdk {
  deserializeProperties(struct: { toJavaScript(): unknown }, proxySecrets: boolean): Record<string, any>;
  unknownCheckingProxy<T extends object>(o: T): T;
  UnknownValueError: new (...args: any[]) => Error;
}

/** The policy SDK's internal modules, resolved from the project's own `@pulumi/policy`. */
export function policySdk(projectDir: string): PolicySdk {
  const requireSdk = createRequire(path.join(projectDir, "package.json"));
  const { deserializeProperties } = requireSdk("@pulumi/policy/deserialize") as Partial<PolicySdk>;
  const { unknownCheckingProxy, UnknownValueError } = requireSdk(
    "@pulumi/policy/proxy",
  ) as Partial<PolicySdk>;
  if (!deserializeProperties || !unknownCheckingProxy || !UnknownValueError) {
    throw new Error(
      "@pulumi/policy: deserialize.deserializeProperties or proxy.unknownCheckingProxy/UnknownValueError moved; see plan/sdk-internals.ts",
    );
  }
  return { deserializeProperties, unknownCheckingProxy, UnknownValueError };
}
