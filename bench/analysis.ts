/**
 * What the benchmarks measure and the guard tests assert on a recorded program run: synthetic stacks
 * of N services, the deploy's critical path, and byte-for-byte input fingerprints.
 */
import stringify from "safe-stable-stringify";
import { PROJECT } from "../lib/config/project";
import { loadStackConfig, type ProgramRun, type RecordedResource } from "../plan/run";

/**
 * The staging stack with `n` services instead of its own: half Cloud Run (odd), half Lambda (even),
 * each with a secret, built from the sample apps.
 */
export function syntheticConfig(n: number): Record<string, unknown> {
  const base = loadStackConfig("staging");
  const services: Record<string, unknown> = {};
  for (let i = 1; i <= n; i++) {
    const id = String(i).padStart(3, "0");
    services[i % 2 === 1 ? `api-${id}` : `fn-${id}`] =
      i % 2 === 1
        ? {
            target: "cloudrun",
            context: "apps/api",
            platform: "linux/amd64",
            exposure: i % 4 === 1 ? "public" : "private",
            secrets: { API_KEY: { secret: `api-key-${id}`, version: "latest" } },
          }
        : {
            target: "lambda",
            context: "apps/worker",
            architecture: "arm64",
            functionUrl: i % 4 === 0,
            secrets: {
              DB_SECRET_ARN: {
                secret: `arn:aws:secretsmanager:us-east-1:111111111111:secret:fn-${id}-AbCdEf`,
              },
            },
          };
  }
  return { ...base, [`${PROJECT}:services`]: services };
}

export interface CriticalPath {
  /** Resources on the longest chain that must be created one after another. */
  length: number;
  /** That chain, first to last, as `type name`. */
  chain: string[];
}

/**
 * The longest chain of cloud resources that must be created one after another: edges are each custom
 * resource's dependencies (explicit and through inputs), with a component standing for all the custom
 * resources under it. Components themselves take no time.
 */
export function criticalPath(run: ProgramRun): CriticalPath {
  const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
  const children = new Map<string, RecordedResource[]>();
  for (const r of run.resources) {
    if (r.parent) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
  }
  const customsUnder = (urn: string): string[] => {
    const r = byUrn.get(urn);
    if (!r) return [];
    if (r.custom) return [urn];
    return (children.get(urn) ?? []).flatMap((c) => customsUnder(c.urn));
  };
  const memo = new Map<string, string[]>();
  const longest = (urn: string, visiting: Set<string>): string[] => {
    const known = memo.get(urn);
    if (known) return known;
    if (visiting.has(urn)) throw new Error(`dependency cycle through ${urn}`);
    visiting.add(urn);
    const r = byUrn.get(urn)!;
    let best: string[] = [];
    for (const dep of new Set(r.dependencies.flatMap(customsUnder))) {
      if (dep === urn) continue;
      const chain = longest(dep, visiting);
      if (chain.length > best.length) best = chain;
    }
    visiting.delete(urn);
    const chain = [...best, urn];
    memo.set(urn, chain);
    return chain;
  };
  let best: string[] = [];
  for (const r of run.resources) {
    if (!r.custom) continue;
    const chain = longest(r.urn, new Set());
    if (chain.length > best.length) best = chain;
  }
  return {
    length: best.length,
    chain: best.map((u) => {
      const r = byUrn.get(u)!;
      return `${r.type} ${r.name}`;
    }),
  };
}

/** Every resource's inputs as the engine receives them, canonically serialised, by URN. */
export function inputFingerprints(run: ProgramRun): Map<string, string> {
  return new Map(
    run.resources.map((r) => [
      r.urn,
      stringify({ inputs: r.rawInputs, deps: [...r.dependencies].sort(), parent: r.parent ?? null }) ?? "",
    ]),
  );
}

/** The URNs whose inputs differ between two runs, plus those present in only one of them. */
export function inputDifferences(a: ProgramRun, b: ProgramRun): string[] {
  const fa = inputFingerprints(a);
  const fb = inputFingerprints(b);
  const diffs: string[] = [];
  for (const [urn, text] of fa) if (fb.get(urn) !== text) diffs.push(urn);
  for (const urn of fb.keys()) if (!fa.has(urn)) diffs.push(urn);
  return diffs;
}
