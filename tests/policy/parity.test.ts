/**
 * The policy pack ships on its own (`pulumi policy publish`), so it keeps its own copy of what it
 * shares with the program. These keep each copy equal to the program's, on the inputs that matter.
 */
import { describe, expect, it } from "vitest";
import { CACHE_REPOSITORY_LABEL } from "../../components/artifact-registry-repository";
import * as lib from "../../lib/image-export";
import { isDigest, parseImageRef } from "../../lib/image-ref";
import { PLATFORMS, architectureForPlatform } from "../../lib/platform";
import * as step from "../../lib/verify-step";
import * as pack from "../../policy/rules";

const RAW = [
  lib.registryExport("us-central1-docker.pkg.dev/acme/apps/api"),
  "type=registry,name=127.0.0.1:5000/apps/api,push-by-digest=true",
  "type=image,name=r.example.com/a,push=true",
  "TYPE=registry,NAME=r.example.com/a,Push=false",
  'type=registry,"name=r.example.com/a,r.example.com/b",push-by-digest=true',
  "type=registry,name=r.example.com/a,attest:provenance=mode=max",
  "type=oci,dest=/tmp/out.tar",
  "type=cacheonly",
];

describe("the pack's export parsing matches the program's", () => {
  it.each(RAW)("%s", (raw) => {
    expect(pack.parseExportEntry(raw)).toEqual(lib.parseExportEntry(raw));
  });

  it("reads typed and raw exports alike", () => {
    const props = {
      exports: [
        { registry: { names: ["r.example.com/a"], pushByDigest: true } },
        { image: { names: ["r.example.com/b"], push: true } },
        { raw: RAW[0] },
        { raw: "type=registry,name=r.example.com/c", disabled: true },
        { cacheonly: {} },
      ],
    };
    expect(pack.imageExportEntries(props)).toEqual(lib.imageExportEntries(props));
    expect(lib.imageExportEntries(props).map((e) => e.attrs["push-by-digest"])).toEqual([
      "true",
      undefined,
      "true",
    ]);
  });

  it("refuses an entry without a type in both", () => {
    expect(() => lib.parseExportEntry("name=r.example.com/a")).toThrow("has no type=");
    expect(() => pack.parseExportEntry("name=r.example.com/a")).toThrow("has no type=");
  });
});

describe("registryExport", () => {
  it("pushes an untagged name by digest, reproducibly, with OCI media types", () => {
    expect(lib.parseExportEntry(lib.registryExport("127.0.0.1:5000/apps/api"))).toEqual({
      type: "image",
      attrs: {
        name: "127.0.0.1:5000/apps/api",
        push: "true",
        "push-by-digest": "true",
        "rewrite-timestamp": "true",
        "oci-mediatypes": "true",
      },
    });
  });

  it.each(["r.example.com/apps/api:v1", `r.example.com/apps/api@sha256:${"a".repeat(64)}`])(
    "refuses %s: BuildKit cannot push a tagged or digested name by digest",
    (ref) => {
      expect(() => lib.registryExport(ref)).toThrow("expected an untagged repository");
    },
  );
});

describe("the pack's step contract matches the program's (lib/verify-step.ts)", () => {
  it("marks steps with the same variable and values", () => {
    expect(pack.STEP_MARKER).toBe(step.STEP_MARKER);
    expect(pack.STEPS).toEqual(step.STEPS);
  });

  const REF = `us-central1-docker.pkg.dev/acme/apps/api@sha256:${"a".repeat(64)}`;
  it.each([
    step.verifyCommandLine({ ref: REF, platform: "linux/amd64", tag: "t-1" }),
    step.verifyCommandLine({ ref: REF, platform: "linux/arm64" }),
    `node_modules/.bin/tsx scripts/verify-image.ts --tag=t-1 --platform=linux/amd64 ${REF}`,
    `tsx scripts/verify-image.ts --platform linux/amd64 --json ${REF} --tag t-1`,
    `tsx scripts/verify-image.ts ${REF}`,
    `echo verify-image ${REF} --platform linux/amd64`,
    "tsx scripts/promote-image.ts a b",
  ])("parses %s the same way", (line) => {
    expect(pack.parseVerifyCommandLine(line)).toEqual(step.parseVerifyCommandLine(line));
  });

  it("reads back what the program writes", () => {
    expect(
      step.parseVerifyCommandLine(step.verifyCommandLine({ ref: REF, platform: "linux/arm64", tag: "t" })),
    ).toEqual({
      ref: REF,
      platform: "linux/arm64",
      tag: "t",
    });
  });
});

describe("the pack's other copies match the program's", () => {
  it("maps each platform to the Lambda architecture lib/platform.ts gives it, and knows no other", () => {
    expect(Object.keys(pack.ARCH_FOR_PLATFORM).sort()).toEqual([...PLATFORMS].sort());
    for (const p of PLATFORMS) expect(pack.ARCH_FOR_PLATFORM[p]).toBe(architectureForPlatform(p));
  });

  const REFS = [
    `us-central1-docker.pkg.dev/acme/apps/api@sha256:${"a".repeat(64)}`,
    `111111111111.dkr.ecr.us-east-1.amazonaws.com/team/fn:v1@sha256:${"b".repeat(64)}`,
    "127.0.0.1:5000/apps/api:1.0",
    "localhost/apps/api",
    "nginx:1.27",
    "library/nginx",
    `ghcr.io/acme/api@sha256:${"A".repeat(64)}`,
    `r.example.com/a@sha256:${"c".repeat(63)}`,
  ];

  it.each(REFS)("reads %s's registry host and digest as lib/image-ref.ts does", (ref) => {
    const at = ref.indexOf("@");
    const digest = at >= 0 ? ref.slice(at + 1) : undefined;
    expect(pack.DIGEST_REF.test(ref)).toBe(digest !== undefined && isDigest(digest));
    if (digest === undefined || isDigest(digest)) {
      const parsed = parseImageRef(ref);
      expect(pack.imageHost(ref)).toBe(parsed.registry);
    }
  });

  it("recognises the build-cache repository by the label the component sets", () => {
    expect({
      [pack.DEFAULTS["registry-immutable-tags"].cacheLabel]:
        pack.DEFAULTS["registry-immutable-tags"].cacheLabelValue,
    }).toEqual(CACHE_REPOSITORY_LABEL);
  });
});
