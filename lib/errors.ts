/**
 * A mistake in what the user gave us (stack config, CLI arguments, an image in a registry that fails
 * verification). It carries every problem found, each one a complete sentence that names the file,
 * the key and the fix, and is printed without a stack trace. Anything else that is thrown is a bug.
 */
export class UserError extends Error {
  readonly problems: readonly string[];

  constructor(header: string, problems: readonly string[]) {
    super(problems.length === 0 ? header : `${header}\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "UserError";
    this.problems = problems;
  }

  static is(err: unknown): err is UserError {
    return err instanceof UserError;
  }
}

/**
 * A component given args it cannot use (as SST's `VisibleError` and CDK's `ValidationError`): the
 * message names the component, its resource name and the arg, and prints without a stack trace.
 */
export class ComponentArgError extends UserError {
  constructor(component: string, name: string, arg: string, problem: string) {
    super(`${component} ${name}: ${arg}: ${problem}`, []);
    this.name = "ComponentArgError";
  }
}

/** Stack configuration that does not validate. */
export class ConfigError extends UserError {
  constructor(file: string, problems: readonly string[]) {
    super(
      `${file}: ${problems.length} configuration error${problems.length === 1 ? "" : "s"} (nothing was deployed)`,
      problems,
    );
    this.name = "ConfigError";
  }
}

/** Renders a value received from the user the way it appears in their YAML, for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value);
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
