/**
 * The one place that maps an image platform to a Lambda architecture and back. The image build and the
 * Lambda function both call these, so the two can never disagree (seed 001: an amd64 image on an
 * arm64 function).
 */
export const PLATFORMS = ["linux/amd64", "linux/arm64"] as const;
export type Platform = (typeof PLATFORMS)[number];

export const LAMBDA_ARCHITECTURES = ["x86_64", "arm64"] as const;
export type LambdaArchitecture = (typeof LAMBDA_ARCHITECTURES)[number];

const TO_ARCH: Record<Platform, LambdaArchitecture> = {
  "linux/amd64": "x86_64",
  "linux/arm64": "arm64",
};

export function architectureForPlatform(platform: Platform): LambdaArchitecture {
  return TO_ARCH[platform];
}

export function platformForArchitecture(arch: LambdaArchitecture): Platform {
  return arch === "arm64" ? "linux/arm64" : "linux/amd64";
}

/** `linux/arm64` → `{ os: "linux", architecture: "arm64" }`, as an OCI image config spells them. */
export function splitPlatform(platform: Platform): { os: string; architecture: string } {
  const [os, architecture] = platform.split("/");
  return { os, architecture };
}

/** The short architecture name used in image tags: `amd64` or `arm64`. */
export function platformTagSuffix(platform: Platform): string {
  return splitPlatform(platform).architecture;
}

export function isPlatform(value: unknown): value is Platform {
  return typeof value === "string" && (PLATFORMS as readonly string[]).includes(value);
}
