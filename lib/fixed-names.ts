/**
 * Settings a cloud cannot change on a resource whose name is fixed. The provider marks them
 * ForceNew, so a change plans a create-before-delete replacement, and the create of a second
 * resource with the same name fails (or `protect` refuses the delete). The program reads what exists
 * and refuses the change up front, with the way out.
 */
import { describeValue } from "./errors";

/** An ECR repository's encryption as the provider reports it (`encryption_configuration`). */
export interface EcrEncryption {
  encryptionType: string;
  kmsKey?: string;
}

/**
 * `ecr.kmsKeyArn` against an existing repository. terraform-provider-aws
 * internal/service/ecr/repository.go: `encryption_configuration`, its `encryption_type` and
 * `kms_key` are all `ForceNew`, and `name` is fixed here (`<ecr.repositoryPrefix>/<service>`).
 */
export function ecrEncryptionProblem(
  file: string,
  repository: string,
  configuredKmsKeyArn: string | undefined,
  existing: EcrEncryption,
): string | undefined {
  const wantKms = configuredKmsKeyArn !== undefined;
  const hasKms = existing.encryptionType === "KMS";
  if (wantKms === hasKms && (!wantKms || existing.kmsKey === configuredKmsKeyArn)) return undefined;
  const now = hasKms ? `KMS with ${existing.kmsKey}` : existing.encryptionType;
  return (
    `${file}: multicloud-deploy:ecr.kmsKeyArn: ${describeValue(configuredKmsKeyArn ?? null)} differs from the ` +
    `encryption of the existing repository ${repository} (${now}); ECR cannot change a repository's ` +
    "encryption, and replacing it would need a second repository of the same name. Keep the setting " +
    `as the repository has it (${hasKms ? `kmsKeyArn: ${existing.kmsKey}` : "no kmsKeyArn"}), or move to new ` +
    "repositories: set ecr.repositoryPrefix to a new prefix (the next update builds or promotes into them; " +
    "the old ones are retained, so run `pulumi state unprotect` on each first when protectRegistries is on)"
  );
}
