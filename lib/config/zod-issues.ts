/**
 * zod issues as this program reports config problems: `<file>: multicloud-deploy:<path>: <message>,
 * got <value>`, with the known keys and the closest one for an unknown key. The one file that reads
 * zod internals (`_zod.def`: a schema's wrappers and its record and array element types), which no
 * public API exposes; `tests/lib/zod-internals.test.ts` fails, naming what moved, on a zod upgrade
 * that changes them.
 */
import { closest } from "fastest-levenshtein";
import { z } from "zod";
import { describeValue } from "../errors";
import { PROJECT } from "./project";

export type Path = readonly PropertyKey[];

export function keyPath(p: Path): string {
  let out = "";
  for (const part of p) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Walks wrappers (default, optional, preprocess, a union's object option) to the object schema, if any, and returns its keys. */
export function objectKeysAt(schema: z.ZodType, p: Path): string[] | undefined {
  let current: z.ZodType | undefined = schema;
  const unwrap = (s: z.ZodType): z.ZodType => {
    let cur = s;
    for (;;) {
      const def = (cur as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
      if (
        def.type === "default" ||
        def.type === "prefault" ||
        def.type === "optional" ||
        def.type === "nullable"
      )
        cur = def.innerType as z.ZodType;
      else if (def.type === "pipe") cur = def.out as z.ZodType;
      // `false | { … }`: the object among a union's options.
      else if (def.type === "union")
        return (def.options as z.ZodType[]).map(unwrap).find((o) => o instanceof z.ZodObject) ?? cur;
      else return cur;
    }
  };
  for (const part of p) {
    if (!current) return undefined;
    const obj = unwrap(current);
    if (obj instanceof z.ZodObject) current = (obj.shape as Record<string, z.ZodType>)[String(part)];
    else if (obj instanceof z.ZodRecord)
      current = (obj._zod.def as unknown as { valueType: z.ZodType }).valueType;
    else if (obj instanceof z.ZodArray) current = (obj._zod.def as unknown as { element: z.ZodType }).element;
    else return undefined;
  }
  if (!current) return undefined;
  const obj = unwrap(current);
  return obj instanceof z.ZodObject ? Object.keys(obj.shape) : undefined;
}

/** Formats zod issues as `<file>: multicloud-deploy:<path>: <message>, got <value>`. */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  prefix: Path,
  file: string,
): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const where = [...prefix, ...issue.path];
    if (issue.code === "unrecognized_keys") {
      const known = objectKeysAt(schema, issue.path) ?? [];
      for (const key of issue.keys) {
        const hint = known.length > 0 ? `; did you mean "${closest(key, known)}"?` : "";
        out.push(
          `${file}: ${PROJECT}:${keyPath([...where, key])}: unknown key${hint} (known keys: ${known.join(", ")})`,
        );
      }
      continue;
    }
    if (issue.code === "invalid_union") {
      // `false | { … }` given an object: that option's own problems (a key, a limit), not "expected false or …".
      const branch = issue.errors.find(
        (errs) =>
          errs.length > 0 &&
          !errs.every(
            (i) => i.path.length === 0 && (i.code === "invalid_type" || i.code === "invalid_value"),
          ),
      );
      if (branch) {
        out.push(
          ...describeIssues(
            branch.map((i) => ({ ...i, path: [...issue.path, ...i.path] }) as z.core.$ZodIssue),
            schema,
            prefix,
            file,
          ),
        );
        continue;
      }
    }
    if (issue.code === "invalid_key") {
      // A map key that is not a valid name: say which key and what a valid one looks like.
      const why = issue.issues[0]?.message ?? issue.message;
      out.push(
        `${file}: ${PROJECT}:${keyPath(where)}: ${JSON.stringify(String(issue.input))} is not a valid name: ${why}`,
      );
      continue;
    }
    const received = "input" in issue ? `, got ${describeValue(issue.input)}` : "";
    out.push(`${file}: ${PROJECT}:${keyPath(where)}: ${issue.message}${received}`);
  }
  return out;
}
