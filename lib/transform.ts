/**
 * The escape hatch every component offers for each child it creates (as SST's `transform` does): a
 * function that gets the child's args and resource options, and the child's name, before the child
 * is created, and may change them in place or return new args. A field this program does not expose
 * then needs no fork. What a transform changes is the caller's responsibility: the policy pack still
 * checks the result.
 */
import type * as pulumi from "@pulumi/pulumi";

export type Transform<Args> = (args: Args, opts: pulumi.CustomResourceOptions, name: string) => Args | void;

/** `[name, args, opts]` after `transform`, to spread into a resource constructor. */
export function transform<Args, Opts extends pulumi.CustomResourceOptions>(
  t: Transform<Args> | undefined,
  name: string,
  args: Args,
  opts: Opts,
): [string, Args, Opts] {
  return [name, (t?.(args, opts, name) as Args | undefined) ?? args, opts];
}
