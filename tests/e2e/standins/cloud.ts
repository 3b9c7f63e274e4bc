/**
 * Stand-ins for the `gcp` (9.37.0) and `aws` (7.48.0) provider plugins, for the e2e suite only: those
 * providers compile patched upstream sources and cannot be built here. They answer with the same
 * function as the offline plan's stand-ins (plan/standins.ts `newResourceState`, `callResult`), so the
 * two can never disagree; the mocks cite the provider behaviour each answer comes from.
 *
 *   tsx tests/e2e/standins/cloud.ts <gcp|aws> <engine address>
 *
 * The deployment they pretend to run in (account, project, regions) comes from
 * E2E_STANDIN_ENVIRONMENT (JSON, a MockEnvironment), which the suite sets per stack: each stack has
 * its own account and project, as in production. Installed only into the suite's PULUMI_HOME.
 */
import { isDeepStrictEqual } from "node:util";
import * as provider from "@pulumi/pulumi/provider";
import { callResult, newResourceState, type MockEnvironment } from "../../../plan/standins";

const VERSIONS: Record<string, string> = { gcp: "9.37.0", aws: "7.48.0" };
const [pkg, ...args] = process.argv.slice(2);
if (!pkg || !VERSIONS[pkg]) throw new Error(`usage: cloud.ts <${Object.keys(VERSIONS).join("|")}> <engine>`);
const env = JSON.parse(process.env.E2E_STANDIN_ENVIRONMENT ?? "{}") as MockEnvironment;

/** `urn:pulumi:<stack>::<project>::<parent types$>type::name` → type and name. */
function parse(urn: string): { type: string; name: string } {
  const parts = urn.split("::");
  const types = parts[2]!.split("$");
  return { type: types[types.length - 1]!, name: parts[3]! };
}

function state(urn: string, inputs: Record<string, unknown>) {
  const { type, name } = parse(urn);
  return newResourceState({ type, name, inputs, provider: "", custom: true } as never, env);
}

const standIn: provider.Provider = {
  version: VERSIONS[pkg],
  async check(_urn, _olds, news) {
    return { inputs: news };
  },
  async diff(_id, _urn, olds: Record<string, unknown>, news: Record<string, unknown>) {
    const changed = Object.keys({ ...olds, ...news }).filter(
      (k) => k in news && !isDeepStrictEqual(olds[k], news[k]),
    );
    return { changes: changed.length > 0 };
  },
  async create(urn, inputs) {
    const { id, state: outs } = state(urn, inputs);
    return { id: id ?? parse(urn).name, outs };
  },
  async update(_id, urn, _olds, news) {
    return { outs: state(urn, news).state };
  },
  async delete() {},
  async invoke(token, inputs) {
    return { outputs: callResult({ token, inputs, provider: "" } as never, env) };
  },
};

void provider.main(standIn, args);
