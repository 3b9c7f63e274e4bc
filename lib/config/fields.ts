/**
 * zod building blocks the stack schema (./schema.ts) and each target's service schema
 * (./services/*.ts) share, so one kind of field reads one message everywhere.
 */
import { z } from "zod";

/** A zod error option whose every failure reads `message`. */
export const e = (message: string) => ({ error: message });

/** A whole number in [min, max] whose every failure reads `message`. */
export const wholeNumber = (message: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.number(e(message)).int(e(message)).min(min, e(message)).max(max, e(message));

/** An environment variable or build argument name. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A map keyed by environment variable names, e.g. `API_KEY`, as `example` shows. */
export const envNameKey = (example: string) =>
  z
    .string()
    .regex(
      ENV_NAME,
      e(
        `expected an environment variable name like ${example} (letters, digits and "_", not starting with a digit)`,
      ),
    );

/** `env:` or `secrets:` left empty in YAML is null: it means an empty map. */
export const emptyIsNone = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === null ? undefined : v), schema);

/** A customer-managed KMS key ARN (ECR repository encryption, Lambda secrets). */
export const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
