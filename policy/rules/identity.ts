/** Policy rules: Least privilege: no plaintext secrets, dedicated identities, public exposure only by explicit opt-in. */
import type { PolicyConfigSchema, PolicyResource } from "@pulumi/policy";
import {
  CLOUD_RUN_TYPES,
  DEFAULT_COMPUTE_SA,
  PUBLIC_MEMBERS,
  SECRETS_MANAGER_ARN,
  TYPES,
  containersOf,
  credentialKind,
  eachResource,
  read,
  resourcePolicy,
  ruleConfig,
  stackPolicy,
  stringList,
  what,
} from "../core";

/** Defaults of no-plaintext-secrets-in-env's config (the pack config overrides them). */
export const PLAINTEXT_SECRETS = {
  namePatterns: ["KEY", "SECRET", "TOKEN", "PASSWORD"],
  allowNames: [] as string[],
};
const PLAINTEXT_SECRETS_SCHEMA: PolicyConfigSchema = {
  properties: {
    namePatterns: stringList(
      "Env var names containing any of these (case-insensitive) must come from a secret reference.",
      PLAINTEXT_SECRETS.namePatterns,
    ),
    allowNames: stringList("Env var names exempt from the check (exact match).", []),
  },
};

export const noPlaintextSecretsInEnv = resourcePolicy(
  "no-plaintext-secrets-in-env",
  "Env vars named like secrets come from Secret Manager (secretKeyRef) on Cloud Run and hold a Secrets Manager ARN on Lambda.",
  [...CLOUD_RUN_TYPES, TYPES.lambda],
  (args, report) => {
    const { namePatterns, allowNames } = ruleConfig(PLAINTEXT_SECRETS, args);
    const looksSecret = (n: string) =>
      !allowNames.includes(n) && namePatterns.some((p) => n.toUpperCase().includes(p.toUpperCase()));
    // Whatever its name, a plain value that is itself a credential is flagged (never quoted).
    const leaks = (subject: string, key: string, value: unknown) => {
      const kind = typeof value === "string" ? credentialKind(value) : undefined;
      if (kind && !allowNames.includes(key)) {
        report(
          `${subject} env ${key} holds ${kind} in plain text; store it in ${args.type === TYPES.lambda ? "Secrets Manager and pass the ARN" : "Secret Manager and use valueSource.secretKeyRef"}`,
        );
        return true;
      }
      return false;
    };
    if (args.type === TYPES.lambda) {
      const vars = read(() => (args.props.environment?.variables ?? {}) as Record<string, unknown>);
      if (!vars.known) return;
      for (const key of Object.keys(vars.value)) {
        const plain = read(() => vars.value[key]);
        if (plain.known && leaks(`Lambda function "${args.name}"`, key, plain.value)) continue;
        if (!looksSecret(key)) continue;
        const value = read(() => vars.value[key]);
        if (value.known && !(typeof value.value === "string" && SECRETS_MANAGER_ARN.test(value.value))) {
          report(
            `Lambda function "${args.name}" env ${key} looks like a secret but is not a Secrets Manager ARN; ` +
              "store the value in Secrets Manager, pass its ARN and read it at run time",
          );
        }
      }
      return;
    }
    containersOf(args.type, args.props).forEach((c) => {
      for (const env of c.envs ?? []) {
        if (!env.name) continue;
        const plain = read(() => env.value);
        if (plain.known && leaks(what(args.type, args.name), env.name, plain.value)) continue;
        if (!looksSecret(env.name)) continue;
        if (!env.valueSource?.secretKeyRef && !env.valueFrom?.secretKeyRef) {
          report(
            `${what(args.type, args.name)} env ${env.name} looks like a secret but is a plain value; ` +
              "use valueSource.secretKeyRef { secret, version } from Secret Manager",
          );
        }
      }
    });
  },
  { configSchema: PLAINTEXT_SECRETS_SCHEMA },
);

export const cloudRunDedicatedServiceAccount = resourcePolicy(
  "cloud-run-dedicated-service-account",
  "Cloud Run runs as a dedicated service account, never a default one (Compute Engine's or App Engine's).",
  CLOUD_RUN_TYPES,
  ({ type, name, props }, report) => {
    const sa = read(() =>
      type === TYPES.runJob
        ? props.template?.template?.serviceAccount
        : type === TYPES.runV1Service
          ? props.template?.spec?.serviceAccountName
          : props.template?.serviceAccount,
    );
    if (!sa.known) return; // a service account created in the same update: dedicated by construction
    if (!sa.value) {
      report(
        `${what(type, name)} sets no service account, so it runs as the default compute account (Editor on the project); set template.serviceAccount to a dedicated account`,
      );
    } else if (DEFAULT_COMPUTE_SA.test(sa.value)) {
      report(
        `${what(type, name)} runs as a default account (${sa.value}, Editor on the project); create a dedicated service account with only the roles it needs`,
      );
    }
  },
);

/** Defaults of public-exposure-requires-opt-in's config (the pack config overrides them). */
export const PUBLIC_EXPOSURE = { exposureLabel: "exposure" };
const PUBLIC_EXPOSURE_SCHEMA: PolicyConfigSchema = {
  properties: {
    exposureLabel: {
      type: "string",
      default: PUBLIC_EXPOSURE.exposureLabel,
      description: "Label (Cloud Run) or tag (Lambda) that must be `public` on a publicly invokable service.",
    },
  },
};

export const publicExposureRequiresOptIn = stackPolicy(
  "public-exposure-requires-opt-in",
  "allUsers/allAuthenticatedUsers invokers and NONE-auth Lambda URLs only on services labelled/tagged exposure: public.",
  (args, report) => {
    const { exposureLabel } = ruleConfig(PUBLIC_EXPOSURE, args);
    const services = args.resources.filter(
      (r) => r.type === TYPES.runService || r.type === TYPES.runV1Service,
    );
    const functions = args.resources.filter((r) => r.type === TYPES.lambda);
    const labelOf = (r: PolicyResource | undefined) =>
      r === undefined
        ? undefined
        : (r.props.labels?.[exposureLabel] ??
          r.props.metadata?.labels?.[exposureLabel] ??
          r.props.tags?.[exposureLabel]);
    // A service is known by its full identity, not its name alone: two services called "api" in two
    // regions or projects are two services. An unset project is the provider's default on both sides.
    const identity = (r: PolicyResource) => {
      const id = read(() => ({
        name: String(r.props.name ?? r.props.service ?? r.props.metadata?.name ?? "")
          .split("/")
          .pop(),
        location: r.props.location as string | undefined,
        project: (r.props.project ?? r.props.metadata?.namespace) as string | undefined,
      }));
      return id.known ? id.value : undefined;
    };
    const same = (a: ReturnType<typeof identity>, b: ReturnType<typeof identity>) =>
      a !== undefined &&
      b !== undefined &&
      a.name === b.name &&
      a.location === b.location &&
      (a.project === undefined || b.project === undefined || a.project === b.project);
    /** The public members an IAM resource grants run.invoker (or any role, for a member/binding resource). */
    const publicMembers = (r: PolicyResource): string[] | undefined => {
      const members = read(() => {
        if (r.type === TYPES.runServiceIamPolicy || r.type === TYPES.runV1IamPolicy) {
          const policy = JSON.parse(String(r.props.policyData ?? "{}")) as {
            bindings?: Array<{ role?: string; members?: string[] }>;
          };
          return (policy.bindings ?? [])
            .filter((b) => b.role === "roles/run.invoker")
            .flatMap((b) => b.members ?? []);
        }
        return (r.props.members ?? [r.props.member]) as string[];
      });
      return members.known ? members.value.filter((m) => PUBLIC_MEMBERS.has(m)) : undefined;
    };
    const iamTypes: string[] = [
      TYPES.runServiceIamMember,
      TYPES.runServiceIamBinding,
      TYPES.runServiceIamPolicy,
      TYPES.runV1IamMember,
      TYPES.runV1IamBinding,
      TYPES.runV1IamPolicy,
    ];
    eachResource(
      args.resources,
      () => true,
      (r) => {
        // A v2 service with invoker IAM checks disabled is public with no grant at all.
        if (r.type === TYPES.runService && r.props.invokerIamDisabled === true && labelOf(r) !== "public") {
          report(
            `Cloud Run service "${r.name}" has invokerIamDisabled: true, so anyone can invoke it, but is not labelled ${exposureLabel}: public; ` +
              `remove invokerIamDisabled, or declare the service public (exposure: public)`,
            r.urn,
          );
        }
        if (iamTypes.includes(r.type)) {
          const open = publicMembers(r);
          if (open === undefined || open.length === 0) return;
          const target = identity(r);
          const svc = target
            ? services.find((s) => same(identity(s), target))
            : r.dependencies.find((d) => d.type === TYPES.runService || d.type === TYPES.runV1Service);
          if (labelOf(svc) !== "public") {
            report(
              `"${r.name}" grants ${open.join(", ")} invoke on Cloud Run service ${svc ? `"${svc.name}"` : target ? `${target.project ?? ""}/${target.location}/${target.name}` : "(unknown)"}, which is not labelled ${exposureLabel}: public; ` +
                `declare the service public (exposure: public) or grant named members only`,
              r.urn,
            );
          }
        }
        if (r.type === TYPES.lambdaUrl && r.props.authorizationType === "NONE") {
          const target = read(() => r.props.functionName as string);
          const fn = target.known
            ? functions.find(
                (f) => read(() => f.props.name).known && [f.props.name, f.props.arn].includes(target.value),
              )
            : r.dependencies.find((d) => d.type === TYPES.lambda);
          if (labelOf(fn) !== "public") {
            report(
              `function URL "${r.name}" has authorizationType NONE on Lambda function ${fn ? `"${fn.name}"` : "(unknown)"}, which is not tagged ${exposureLabel}: public; ` +
                `use AWS_IAM, or declare the function public (exposure: public)`,
              r.urn,
            );
          }
        }
      },
    );
  },
  { enforcementLevel: "advisory", configSchema: PUBLIC_EXPOSURE_SCHEMA },
);
