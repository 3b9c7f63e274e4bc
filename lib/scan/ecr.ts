/**
 * ECR's scan of one digest, basic or enhanced, through `DescribeImageScanFindings`
 * (@aws-sdk/client-ecr; shapes and errors from its models_0.d.ts and the command's docs):
 *
 * - `imageScanStatus.status`: IN_PROGRESS and PENDING are pending; COMPLETE (basic) and ACTIVE
 *   (enhanced: Amazon Inspector scans continuously, and ACTIVE is what a finished scan reports; the
 *   SDK's `ImageScanComplete` waiter accepts only COMPLETE, so it is not used) are complete;
 *   UNSUPPORTED_IMAGE is unsupported; FAILED, SCAN_ELIGIBILITY_EXPIRED, FINDINGS_UNAVAILABLE,
 *   LIMIT_EXCEEDED, IMAGE_ARCHIVED and IMAGE_SIZE_EXCEEDED are failed, with the registry's
 *   `description`.
 * - `ScanNotFoundException` ("The specified image scan could not be found. Ensure that image scanning
 *   is enabled on the repository"): missing.
 * - Findings page by `nextToken` (`maxResults` 1 to 1000, 100 when unset). Basic findings carry the
 *   id in `name` and a `FindingSeverity`; enhanced ones in `packageVulnerabilityDetails.vulnerabilityId`
 *   with Inspector's `severity` and `status` (only ACTIVE findings count: SUPPRESSED and CLOSED are
 *   Inspector's own dispositions).
 */
import { DescribeImageScanFindingsCommand, type ECRClient } from "@aws-sdk/client-ecr";
import type { Finding, ScanState, Severity } from "./gate";

const PENDING = new Set(["IN_PROGRESS", "PENDING"]);
const COMPLETE = new Set(["COMPLETE", "ACTIVE"]);

export function severityOf(s: string | undefined): Severity {
  return s === "CRITICAL" || s === "HIGH" || s === "MEDIUM" || s === "LOW" ? s : "OTHER";
}

export interface EcrImage {
  /** The registry's account id. */
  registryId: string;
  repositoryName: string;
  digest: string;
}

/** The scan of `image` now. Errors other than "no scan" propagate. */
export async function readEcrScan(client: Pick<ECRClient, "send">, image: EcrImage): Promise<ScanState> {
  const findings: Finding[] = [];
  let nextToken: string | undefined;
  do {
    let page;
    try {
      page = await client.send(
        new DescribeImageScanFindingsCommand({
          registryId: image.registryId,
          repositoryName: image.repositoryName,
          imageId: { imageDigest: image.digest },
          maxResults: 1000,
          nextToken,
        }),
      );
    } catch (err) {
      if ((err as { name?: string }).name === "ScanNotFoundException")
        return { status: "missing", detail: `ECR has no scan of ${image.repositoryName}@${image.digest}` };
      throw err;
    }
    const status = page.imageScanStatus?.status ?? "";
    const said = page.imageScanStatus?.description ? `: ${page.imageScanStatus.description}` : "";
    if (PENDING.has(status)) return { status: "pending", detail: `ECR scan ${status}${said}` };
    if (status === "UNSUPPORTED_IMAGE") return { status: "unsupported", detail: `ECR scan ${status}${said}` };
    if (!COMPLETE.has(status))
      return { status: "failed", detail: `ECR scan ${status || "(no status)"}${said}` };
    for (const f of page.imageScanFindings?.findings ?? [])
      if (f.name)
        findings.push({ id: f.name, severity: severityOf(f.severity), package: packageOf(f.attributes) });
    for (const f of page.imageScanFindings?.enhancedFindings ?? []) {
      const id = f.packageVulnerabilityDetails?.vulnerabilityId;
      if (!id || (f.status !== undefined && f.status !== "ACTIVE")) continue;
      const pkg = f.packageVulnerabilityDetails?.vulnerablePackages?.[0];
      findings.push({
        id,
        severity: severityOf(f.severity),
        package: pkg?.name && `${pkg.name} ${pkg.version ?? ""}`.trim(),
      });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return { status: "complete", findings };
}

/** Basic scanning names the package in `attributes` (`package_name`, `package_version`). */
function packageOf(attributes: { key?: string; value?: string }[] | undefined): string | undefined {
  const get = (k: string) => attributes?.find((a) => a.key === k)?.value;
  const name = get("package_name");
  return name && `${name} ${get("package_version") ?? ""}`.trim();
}
