/**
 * Policy rules: traffic reaches a Lambda function through an alias. An unqualified function URL or
 * invoke permission serves `$LATEST`, which runs new code the moment it is deployed, before any gate:
 * the release step can only protect what goes through the alias it moves.
 */
import { TYPES, read, resourcePolicy, what } from "../core";

/** Lambda's qualifiers: `$LATEST`, a version number, or an alias name (Lambda API, `Qualifier`). */
const isAliasName = (q: string) => q !== "$LATEST" && !/^\d+$/.test(q);

export const lambdaTrafficThroughAlias = resourcePolicy(
  "lambda-traffic-through-alias",
  "Lambda function URLs and invoke permissions target an alias (the one the release step moves after a new version's health gate), never the unqualified function, $LATEST or a fixed version.",
  [TYPES.lambdaUrl, TYPES.lambdaPermission],
  ({ type, name, props }, report) => {
    const subject = what(type, name);
    if (type === TYPES.lambdaPermission) {
      const action = read(() => props.action as string | undefined);
      // Only permissions that let someone call the function carry traffic.
      if (action.known && !/^lambda:InvokeFunction(Url)?$/.test(String(action.value))) return;
    }
    const qualifier = read(() => props.qualifier as string | undefined);
    if (!qualifier.known) return;
    const q = qualifier.value;
    if (q === undefined || q === null || q === "") {
      report(
        `${subject} targets the unqualified function, which serves $LATEST: new code takes this traffic before any health gate. Set qualifier to the function's live alias`,
      );
    } else if (!isAliasName(q)) {
      report(
        `${subject} targets ${q === "$LATEST" ? "$LATEST" : `version ${q}`}, not an alias: releases cannot move its traffic behind a health gate. Set qualifier to the function's live alias`,
      );
    }
  },
);
