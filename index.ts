/**
 * Pulumi's entry point. Pulumi calls the exported function and makes its result the stack outputs;
 * the composition itself is in program.ts, so the test harness and the offline plan run exactly the
 * same code.
 */
import { main } from "./program";

export = main;
