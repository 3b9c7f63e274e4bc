/**
 * The offline plan: what `pulumi up` would do for a stack, computed with mocked providers (see
 * plan/cli.ts for the options and exit codes).
 *
 *   npm run plan [-- --stack prod] [--json | --markdown] [--state <pulumi stack export file>]
 */
import { planMain } from "../plan/cli";
import { run } from "./cli";

run("plan", () => planMain(process.argv));
