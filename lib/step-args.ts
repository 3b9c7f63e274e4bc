/**
 * The argument grammar the project's step CLIs share (pure): `--flag value` or `--flag=value`, repeatable
 * flags kept in order, bare words positional. Each step's codec (lib/signing/step.ts, lib/scan/step.ts,
 * lib/binauthz/step.ts) reads its own flags from this, and finds its command line in a Command's text
 * with {@link decodeStepLine}, so the component, the script, the plan and the policy pack read one form.
 */

export interface StepArgs {
  /** Each flag's values, in order (the last one wins for a single-valued flag). */
  flags: Map<string, string[]>;
  positional: string[];
}

/** Splits a step's arguments; `switches` are flags that take no value. */
export function splitStepArgs(args: readonly string[], switches: readonly string[] = []): StepArgs {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(args[i]!);
    if (!m) positional.push(args[i]!);
    else {
      const value = switches.includes(m[1]!) ? "true" : (m[2] ?? args[++i] ?? "");
      flags.set(m[1]!, [...(flags.get(m[1]!) ?? []), value]);
    }
  }
  return { flags, positional };
}

/** The last value of each flag: for steps whose flags are all single-valued. */
export function lastValues(flags: Map<string, string[]>): Record<string, string> {
  return Object.fromEntries([...flags].map(([k, v]) => [k, v.at(-1)!]));
}

/**
 * A step's fields from a Command's text: the words after the script named `script` (`sign-image`,
 * with or without its `.ts`), through the step's own decoder; undefined when it is not that step, or
 * does not decode.
 */
export function decodeStepLine<T>(
  text: string,
  script: string,
  decode: (args: readonly string[]) => T | { problem: string },
): T | undefined {
  const words = text.trim().split(/\s+/);
  const at = words.findIndex((w) => new RegExp(`(^|/)${script}(\\.ts)?$`).test(w));
  if (at < 0) return undefined;
  const step = decode(words.slice(at + 1));
  return typeof step === "object" && step !== null && "problem" in step ? undefined : (step as T);
}
