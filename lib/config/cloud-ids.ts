/**
 * The shapes of the clouds' identifiers, one owner each; the published lists behind regions are
 * checked separately (./regions.ts).
 */

/**
 * A Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a letter and
 * not ending with a hyphen (Resource Manager, `Project.projectId`). A service account's id has the
 * same shape (IAM, `CreateServiceAccountRequest.account_id`). Unanchored, to build other patterns.
 */
export const GCP_PROJECT_ID = "[a-z][a-z0-9-]{4,28}[a-z0-9]";
export const GCP_PROJECT_ID_PATTERN = new RegExp(`^${GCP_PROJECT_ID}$`);
/** A service account email of a user-managed account: `<id>@<project>.iam.gserviceaccount.com`. */
export const GCP_SERVICE_ACCOUNT_PATTERN = new RegExp(
  `^${GCP_PROJECT_ID}@${GCP_PROJECT_ID}\\.iam\\.gserviceaccount\\.com$`,
);
/** A Google Cloud region's shape, `us-central1`. */
export const GCP_REGION_PATTERN = /^[a-z]+-[a-z]+\d+$/;
/** An AWS region's shape, `us-east-1`, `us-gov-west-1`, `us-isob-east-1`. */
export const AWS_REGION_PATTERN = /^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d$/;
