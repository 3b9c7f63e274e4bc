/**
 * What a building stack exports per service under `images`, and how a promoting stack reads it. The
 * schema is the contract between staging and prod: stable names, nothing prod does not need.
 */
import { z } from "zod";
import { UserError } from "./errors";
import { DIGEST_PATTERN } from "./image-ref";
import { PLATFORMS, type Platform } from "./platform";

export const imageOutputSchema = z.strictObject({
  repositoryUrl: z
    .string()
    .min(1)
    .refine((s) => !s.includes("@") && !/:[^/]*$/.test(s.split("/").slice(1).join("/")), {
      message: "expected a repository URL without tag or digest",
    }),
  digest: z.string().regex(DIGEST_PATTERN, { message: 'expected a manifest digest "sha256:<64 hex>"' }),
  tag: z.string().min(1),
  platform: z.enum(PLATFORMS),
  commitSha: z.string().regex(/^[0-9a-f]{40}$/, { message: "expected a 40-character commit SHA" }),
});
export type ImageOutput = z.infer<typeof imageOutputSchema>;

/** One stack output `images.<service>` as exported (with `verified`, which only marks the ordering). */
const exportedImageSchema = imageOutputSchema.extend({ verified: z.literal(true) });

export class PromotionError extends UserError {
  /** @param file the stack file whose `promoteFrom` names `stack`, for the message */
  constructor(stack: string, problems: readonly string[], file?: string) {
    super(
      `${file ? `${file}: multicloud-deploy:promoteFrom: ` : ""}cannot promote from ${stack}: ${problems.length} problem${problems.length === 1 ? "" : "s"} (nothing was deployed)`,
      problems,
    );
    this.name = "PromotionError";
  }
}

/**
 * Checks the source stack's `images` output for every service this stack deploys and returns the
 * images by service, or throws one error listing every problem, each naming the output.
 */
export function parsePromotedImages(
  images: unknown,
  stack: string,
  services: ReadonlyArray<{ name: string; platform: Platform }>,
  options: {
    /**
     * The commit this update deploys. Promotion takes only what the source stack runs now, so a release
     * of commit X cannot silently ship the images of a later commit Y that staging moved on to.
     */
    commit?: string;
    /** The stack file that names the source stack, for messages. */
    file?: string;
  } = {},
): Record<string, ImageOutput> {
  const { commit, file } = options;
  const problems: string[] = [];
  const out: Record<string, ImageOutput> = {};
  if (images === undefined || images === null || typeof images !== "object" || Array.isArray(images)) {
    throw new PromotionError(
      stack,
      [
        `stack ${stack} has no output "images" (got ${images === undefined ? "nothing" : typeof images}): run \`pulumi up\` on ${stack} first; ` +
          "a stack deployed by an older version of this program must be updated once before it can be promoted from",
      ],
      file,
    );
  }
  for (const svc of services) {
    const where = `stack ${stack} output images.${svc.name}`;
    const raw = (images as Record<string, unknown>)[svc.name];
    if (raw === undefined) {
      problems.push(
        `${where} is missing: deploy ${svc.name} to ${stack} first, or remove it from this stack`,
      );
      continue;
    }
    const parsed = exportedImageSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const key = issue.path.join(".");
        problems.push(
          key === "verified"
            ? `${where} was not verified (verified is not true): fix ${stack}'s deployment first`
            : `${where}${key ? `.${key}` : ""}: ${issue.message}`,
        );
      }
      continue;
    }
    if (parsed.data.platform !== svc.platform) {
      problems.push(
        `${where}.platform is ${parsed.data.platform} but this stack runs ${svc.name} on ${svc.platform}; ` +
          "give the service the same platform in both stacks",
      );
      continue;
    }
    if (commit !== undefined && parsed.data.commitSha !== commit) {
      problems.push(
        `${where}.commitSha is ${parsed.data.commitSha} but this update deploys commit ${commit}: ` +
          `promote the commit ${stack} runs (git push origin ${parsed.data.commitSha}:refs/heads/release), ` +
          `or deploy ${commit} to ${stack} first`,
      );
      continue;
    }
    const { verified: _verified, ...image } = parsed.data;
    out[svc.name] = image;
  }
  if (problems.length > 0) throw new PromotionError(stack, problems, file);
  return out;
}
