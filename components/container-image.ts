import * as command from "@pulumi/command";
import * as dockerbuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";
import { ComponentArgError } from "../lib/errors";
import { transform, type Transform } from "../lib/transform";
import * as path from "node:path";
import type { CommitInfo } from "../lib/commit";
import { LOGIN_VAR, SOURCE_LOGIN_VAR, encodeLogin, type RegistryLogin } from "../lib/registry/login";
import { digestRef, tagRef } from "../lib/image-ref";
import { registryExport } from "../lib/image-export";
import { ociLabels } from "../lib/image-tag";
import { STEP_MARKER, STEPS, promoteCommandLine, verifyCommandLine } from "../lib/verify-step";
import type { Platform } from "../lib/platform";
import { encodeSignStep, SIGNATURE_KEY_VAR, type SigningKey } from "../lib/signing/step";
import type { ScanGate } from "../lib/scan/gate";
import type { ImageChecks } from "../lib/release/step";
import { encodeScanStep } from "../lib/scan/step";
import { encodeAttestStep } from "../lib/binauthz/step";

export const CONTAINER_IMAGE_TYPE = "multicloud:image:ContainerImage";

export interface RegistryAuth {
  /** Registry host, e.g. `us-central1-docker.pkg.dev` or `<account>.dkr.ecr.<region>.amazonaws.com`. */
  address: pulumi.Input<string>;
  /** For the build's push. */
  username: pulumi.Input<string>;
  /**
   * For the build's push; wrapped in `pulumi.secret` by the component. A rotated token changes
   * nothing: docker-build leaves registry passwords out of its diff (provider/internal/image.go Diff).
   */
  password: pulumi.Input<string>;
  /**
   * How the verify and promote steps log in, at run time, from the deployer's ambient identity
   * (lib/registry/login.ts). Their inputs carry this description, never a token, so a re-run at
   * the same commit is a no-op however often tokens rotate.
   */
  login: pulumi.Input<RegistryLogin>;
}

/** Build settings. Plain values: they are files on this machine and flags known from config. */
export interface ImageBuild {
  /** Build context, relative to the project directory. */
  context: string;
  /** Dockerfile, relative to the build context. */
  dockerfile: string;
  /** @default {} */
  buildArgs?: Record<string, string>;
  /** @default - the last stage */
  target?: string;
  /** The mutable registry cache ref (`repo:buildcache-…`). */
  cacheRef: pulumi.Input<string>;
  /**
   * Write the cache as an image manifest (ECR can store nothing else).
   * @default false
   */
  cacheImageManifest?: boolean;
  /**
   * Build during `pulumi preview` too. docker-build does not push in preview but does write
   * `cacheTo`, so an image built in previews never writes the registry cache (a pull request's preview
   * must not be able to poison the cache the next deploy imports): it only reads it.
   * @default false
   */
  buildOnPreview?: boolean;
  /** `org.opencontainers.image.source`. @default - no source label */
  sourceUrl?: string;
  /**
   * The buildx builder to build on, by name (a remote BuildKit, for a machine with no Docker daemon).
   * @default - docker-build's: the current builder, else a docker-container builder it creates
   */
  builder?: string;
}

/**
 * An image another stack already built and verified (promotion): copied by digest into this stack's
 * repository (same bytes, same digest), verified there, and deployed; never rebuilt.
 */
export interface PromotedImage {
  /** The repository it was built in, e.g. staging's `host/project/apps/api`. */
  sourceRepositoryUrl: pulumi.Input<string>;
  digest: pulumi.Input<string>;
  /** How the copy step logs in to the source registry (read access), at run time. */
  sourceLogin: pulumi.Input<RegistryLogin>;
  /**
   * The source stack's signature the copy requires: checked at the source (the digest claim, the key,
   * the commit claim), copied with the image byte for byte, and checked again here (docs/signing.md).
   * Plain: the public key and commit are config.
   * @default - no signature check (a rollback, which copies nothing)
   */
  signature?: { publicKeyPem: string; commit: string; stack: string };
}

/** Sign the verified digest in cosign's format (scripts/sign-image.ts, docs/signing.md). */
export interface ImageSigning {
  key: SigningKey;
  /** The stack that signs: the signature's `stack` claim. */
  stack: string;
}

export interface ContainerImageArgs {
  /** Repository the image lives in, without tag: `host/path/name`. */
  repositoryUrl: pulumi.Input<string>;
  /** The one platform the image is built for and verified against. Plain: it is the build's identity. */
  platform: Platform;
  /** The image tag (see lib/image-tag.ts); for a promoted image, the tag the source stack gave it. */
  tag: pulumi.Input<string>;
  /** The commit being deployed: its time is the build's `SOURCE_DATE_EPOCH`. */
  commit: CommitInfo;
  /** How the build pushes and how the verify and promote steps log in to `repositoryUrl`'s registry. */
  registryAuth: RegistryAuth;
  /** Build and push the image. Exactly one of `build` and `promoted`. */
  build?: ImageBuild;
  /** Deploy an image that was built elsewhere: copy it here by digest, then verify it. */
  promoted?: PromotedImage;
  /**
   * Once verified, sign the digest with this KMS key; services then depend on the signature too.
   * Plain: it decides whether the step exists.
   * @default - not signed
   */
  signing?: ImageSigning;
  /**
   * Once verified, wait for the registry's vulnerability scan of the digest and judge it
   * (scripts/scan-gate.ts, docs/scanning.md); services and the signature then depend on it. Plain: it
   * decides whether the step exists.
   * @default - not gated (the composition root always gates: lib/service-plan.ts imageArgs)
   */
  scanGate?: ScanGate;
  /**
   * Once the gates passed, attest the digest for Binary Authorization (scripts/attest-image.ts), with
   * the payload the source stack signed beside its cosign signature; services then depend on the
   * attestation. Only for a promoted Artifact Registry image with `promoted.signature`.
   * @default - not attested
   */
  attestation?: ImageAttestation;
  /**
   * Changes a child's args or options before it is created (the escape hatch for a field this
   * component does not expose); see lib/transform.ts.
   * @default - no change
   */
  transform?: {
    image?: Transform<dockerbuild.ImageArgs>;
    promotion?: Transform<command.local.CommandArgs>;
    verification?: Transform<command.local.CommandArgs>;
    signing?: Transform<command.local.CommandArgs>;
    scan?: Transform<command.local.CommandArgs>;
    attestation?: Transform<command.local.CommandArgs>;
  };
}

/** Attest the promoted digest for Binary Authorization (docs/signing.md, "Binary Authorization"). */
export interface ImageAttestation {
  /** `projects/<p>/attestors/<a>`: the attestor prod's Binary Authorization policy requires. */
  attestor: pulumi.Input<string>;
}

/**
 * One image for exactly one platform: built by `@pulumi/docker-build` in its embedded mode (which
 * leaves BuildKit's provenance attestations off, so the registry gets a single manifest, not an index),
 * pushed by digest, then read back from the registry and verified (single manifest, layers equal to the
 * config's diff_ids, the platform asked for), and only then given its commit tag. `imageRef` is
 * `repo@sha256:…` and depends on the verification, so nothing can deploy an unverified image.
 */
export class ContainerImage extends pulumi.ComponentResource {
  /** The registry's manifest digest. */
  readonly digest: pulumi.Output<string>;
  /** `<repository>@<digest>`, available only after verification succeeded. */
  readonly imageRef: pulumi.Output<string>;
  readonly tag: pulumi.Output<string>;
  readonly platform: Platform;
  readonly repositoryUrl: pulumi.Output<string>;
  /** The docker-build resource; undefined for promoted images. */
  readonly image: dockerbuild.Image | undefined;
  /** The verification step services must depend on. */
  readonly verification: command.local.Command;
  /** The copy from the source stack's registry; undefined for images built here. */
  readonly promotion: command.local.Command | undefined;
  /** The signing step after verification; undefined when the image is not signed here. */
  readonly signing: command.local.Command | undefined;
  /** The scan gate after verification; undefined when the image is not gated. */
  readonly scan: command.local.Command | undefined;
  /** The Binary Authorization attestation after the gates; undefined when the image is not attested. */
  readonly attestation: command.local.Command | undefined;
  /**
   * What a release of this image checks again before any traffic (lib/release/step.ts ImageChecks):
   * its scan under this gate, and the signature this stack made (checked with its KMS key) or the one
   * the promotion required (checked with the pinned key in {@link releaseEnvironment}).
   */
  readonly releaseChecks: pulumi.Output<ImageChecks>;
  /** The environment those checks need: how to log in to the registry, and a promoted image's public key. */
  readonly releaseEnvironment: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: ContainerImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super(CONTAINER_IMAGE_TYPE, name, {}, opts);
    if ((args.build === undefined) === (args.promoted === undefined)) {
      throw new ComponentArgError("ContainerImage", name, "build, promoted", "give exactly one of them");
    }
    if (args.attestation && args.promoted?.signature === undefined) {
      throw new ComponentArgError(
        "ContainerImage",
        name,
        "attestation",
        "needs promoted.signature: the attestation carries the payload the source stack signed",
      );
    }
    this.tag = pulumi.output(args.tag);
    this.platform = args.platform;
    this.repositoryUrl = pulumi.output(args.repositoryUrl);
    const login = pulumi.output(args.registryAuth.login).apply(encodeLogin);
    if (args.build) {
      this.image = this.build(name, args, args.build);
      this.digest = this.image.digest;
    } else {
      this.digest = pulumi.output(args.promoted!.digest);
      this.promotion = this.promote(name, args, args.promoted!, login);
    }
    const pinned = pulumi
      .all([this.repositoryUrl, this.digest])
      .apply(([repo, digest]) => digestRef(repo, digest));
    this.verification = this.verify(name, args, pinned, login);
    // The digest ref carries the verification as a dependency (a service that uses it waits for it,
    // and a policy can see it in property dependencies), through the Command's URN rather than its
    // output: the URN is known in every preview, so a re-verification (for example after registry
    // credentials rotated) never makes the image unknown and never shows services as changing.
    this.scan = args.scanGate && this.scanStep(name, args, args.scanGate, pinned);
    // Staging signs only what passed its scan: the signature says "verified and scanned here".
    this.signing = args.signing && this.sign(name, args, args.signing, pinned, login);
    // Attested last, once every other gate passed: the attestation is what Cloud Run admits.
    this.attestation = args.attestation && this.attest(name, args, args.attestation, pinned, login);
    // The scan and the signature too: a service starts only after its image passed both.
    const gates = [this.verification, this.scan, this.signing, this.attestation].filter(
      (c) => c !== undefined,
    );
    this.imageRef = pulumi.all([pinned, ...gates.map((c) => c.urn)]).apply(([ref]) => ref);
    const signed = args.signing;
    const required = args.promoted?.signature;
    this.releaseChecks = pulumi
      .all([this.imageRef, this.repositoryUrl, pulumi.output(args.promoted?.sourceRepositoryUrl)])
      .apply(([ref, repo, source]) => ({
        ref,
        ...(args.scanGate ? { scan: args.scanGate } : {}),
        ...(signed
          ? { signature: { commit: args.commit.sha, stack: signed.stack, reference: repo, key: signed.key } }
          : required && source
            ? {
                signature: {
                  commit: required.commit,
                  stack: required.stack,
                  // A rollback (a copy within this repository) has its signature from an earlier
                  // promotion, naming the source stack's repository: the other claims still bind it.
                  ...(source === repo ? {} : { reference: source }),
                },
              }
            : {}),
      }));
    this.releaseEnvironment = login.apply((l): Record<string, string> => ({
      [LOGIN_VAR]: l,
      ...(!signed && required ? { [SIGNATURE_KEY_VAR]: required.publicKeyPem } : {}),
    }));
    this.registerOutputs({
      digest: this.digest,
      imageRef: this.imageRef,
      tag: this.tag,
      platform: this.platform,
    });
  }

  /** Builds for the one platform with docker-build (embedded mode) and pushes by digest. */
  private build(name: string, args: ContainerImageArgs, build: ImageBuild): dockerbuild.Image {
    const b = normalizeImageBuild(build);
    const password = pulumi.secret(args.registryAuth.password);
    return new dockerbuild.Image(
      ...transform(
        args.transform?.image,
        `${name}-image`,
        {
          context: { location: b.context },
          dockerfile: { location: path.posix.join(b.context, b.dockerfile) },
          // Exactly one platform: one manifest, and the platform Lambda/Cloud Run expect.
          platforms: [args.platform],
          // Pushed by digest, reproducibly (lib/image-export.ts). No `tags`: buildx would write them
          // over the exporter's name and BuildKit refuses a tagged push by digest. The commit tag is
          // added by the verify step, after verification.
          push: false,
          exports: [{ raw: this.repositoryUrl.apply(registryExport) }],
          labels: this.tag.apply((tag) => ociLabels(args.commit, tag, b.sourceUrl)),
          // With `rewrite-timestamp=true` on the export, this epoch also becomes every layer file's
          // timestamp, not only the config's `created`: unchanged inputs give the same digest.
          buildArgs: { ...b.buildArgs, SOURCE_DATE_EPOCH: String(args.commit.timestamp) },
          target: b.target,
          cacheFrom: [{ registry: { ref: b.cacheRef } }],
          // docker-build turns pushes off in preview but still writes `cacheTo` when it builds
          // (provider/internal/image.go toBuild keeps cacheTo for dry runs). A stack whose previews
          // build therefore never writes the cache; see normalizeImageBuild.
          cacheTo: b.writeCache
            ? [
                {
                  registry: {
                    ref: b.cacheRef,
                    mode: dockerbuild.CacheMode.Max,
                    imageManifest: b.cacheImageManifest,
                    ociMediaTypes: true,
                  },
                },
              ]
            : [],
          registries: [
            { address: args.registryAuth.address, username: args.registryAuth.username, password },
          ],
          buildOnPreview: b.buildOnPreview,
          ...(b.builder === undefined ? {} : { builder: { name: b.builder } }),
        },
        // A replacement of this resource (provider upgrade, unrelated input) must never delete an image
        // a running service points at (pulumi-docker-build#581).
        { parent: this, retainOnDelete: true },
      ),
    );
  }

  /** Copies the image, by digest, from the registry it was built in (see scripts/promote-image.ts). */
  private promote(
    name: string,
    args: ContainerImageArgs,
    p: PromotedImage,
    login: pulumi.Output<string>,
  ): command.local.Command {
    const source = pulumi
      .all([p.sourceRepositoryUrl, this.digest])
      .apply(([repo, digest]) => digestRef(repo, digest));
    return new command.local.Command(
      ...transform(
        args.transform?.promotion,
        `${name}-promote`,
        {
          create: pulumi.all([source, this.repositoryUrl]).apply(([from, to]) =>
            promoteCommandLine({
              source: from,
              destination: to,
              signedFor: p.signature?.commit,
              signedBy: p.signature?.stack,
            }),
          ),
          environment: {
            [STEP_MARKER]: STEPS.promote,
            [SOURCE_LOGIN_VAR]: pulumi.output(p.sourceLogin).apply(encodeLogin),
            [LOGIN_VAR]: login,
            ...(p.signature ? { [SIGNATURE_KEY_VAR]: p.signature.publicKeyPem } : {}),
          },
          triggers: [this.digest, this.repositoryUrl],
          logging: command.local.Logging.Stderr,
        },
        { parent: this },
      ),
    );
  }

  /** Reads the manifest back and checks it, then adds the commit tag (see scripts/verify-image.ts). */
  private verify(
    name: string,
    args: ContainerImageArgs,
    pinned: pulumi.Output<string>,
    login: pulumi.Output<string>,
  ): command.local.Command {
    return new command.local.Command(
      ...transform(
        args.transform?.verification,
        `${name}-verify`,
        {
          create: pulumi
            .all([pinned, this.tag])
            .apply(([ref, tag]) => verifyCommandLine({ ref, platform: args.platform, tag })),
          // The step's marker (lib/verify-step.ts), and where the verifier gets credentials, never the
          // credentials: it logs in at run time.
          environment: { [STEP_MARKER]: STEPS.verify, [LOGIN_VAR]: login },
          triggers: [this.digest],
          // Its stdout (the verified facts) stays in the Command's outputs; only errors reach the log.
          logging: command.local.Logging.Stderr,
        },
        { parent: this, dependsOn: this.image ? [this.image] : [this.promotion!] },
      ),
    );
  }

  /** Signs the verified digest, unless this key signed it already (see scripts/sign-image.ts). */
  private sign(
    name: string,
    args: ContainerImageArgs,
    signing: ImageSigning,
    pinned: pulumi.Output<string>,
    login: pulumi.Output<string>,
  ): command.local.Command {
    return new command.local.Command(
      ...transform(
        args.transform?.signing,
        `${name}-sign`,
        {
          create: pinned.apply((ref) =>
            encodeSignStep({ ref, key: signing.key, commit: args.commit.sha, stack: signing.stack }),
          ),
          environment: { [STEP_MARKER]: STEPS.sign, [LOGIN_VAR]: login },
          triggers: [this.digest],
          logging: command.local.Logging.Stderr,
        },
        { parent: this, dependsOn: [this.scan ?? this.verification] },
      ),
    );
  }

  /** Attests the promoted digest with the source stack's signed payload (see scripts/attest-image.ts). */
  private attest(
    name: string,
    args: ContainerImageArgs,
    a: ImageAttestation,
    pinned: pulumi.Output<string>,
    login: pulumi.Output<string>,
  ): command.local.Command {
    const required = args.promoted!.signature!;
    return new command.local.Command(
      ...transform(
        args.transform?.attestation,
        `${name}-attest`,
        {
          create: pulumi
            .all([pinned, a.attestor])
            .apply(([ref, attestor]) =>
              encodeAttestStep({ ref, attestor, commit: required.commit, stack: required.stack }),
            ),
          environment: {
            [STEP_MARKER]: STEPS.attest,
            [LOGIN_VAR]: login,
            [SIGNATURE_KEY_VAR]: required.publicKeyPem,
          },
          triggers: [this.digest],
          logging: command.local.Logging.Stderr,
        },
        { parent: this, dependsOn: [this.scan ?? this.verification] },
      ),
    );
  }

  /** Waits for the registry's scan of the verified digest and judges it (see scripts/scan-gate.ts). */
  private scanStep(
    name: string,
    args: ContainerImageArgs,
    gate: ScanGate,
    pinned: pulumi.Output<string>,
  ): command.local.Command {
    return new command.local.Command(
      ...transform(
        args.transform?.scan,
        `${name}-scan`,
        {
          create: pinned.apply((ref) => encodeScanStep({ ref, gate })),
          // No registry credential: the scan APIs take the deployer's ambient identity.
          environment: { [STEP_MARKER]: STEPS.scan },
          triggers: [this.digest],
          logging: command.local.Logging.Stderr,
        },
        { parent: this, dependsOn: [this.verification] },
      ),
    );
  }

  /** `<repository>:<tag>`, for humans and rollbacks; services never use it. */
  get tagRef(): pulumi.Output<string> {
    return pulumi.all([this.repositoryUrl, this.tag]).apply(([repo, tag]) => tagRef(repo, tag));
  }
}

export function normalizeImageBuild(b: ImageBuild) {
  const buildOnPreview = b.buildOnPreview ?? false;
  return {
    ...b,
    buildArgs: b.buildArgs ?? {},
    cacheImageManifest: b.cacheImageManifest ?? false,
    buildOnPreview,
    /** The cache is written only by `pulumi up`, which a preview-building stack cannot guarantee. */
    writeCache: !buildOnPreview,
  };
}
