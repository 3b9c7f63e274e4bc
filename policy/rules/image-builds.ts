/** Policy rules: One explicit platform per image, attestations off, tagged by commit SHA. */
import {
  COMMIT_SHA_TAG,
  TYPES,
  buildPlatforms,
  eachResource,
  goBool,
  imageExportEntries,
  isVerifyCommand,
  parseVerifyCommandLine,
  read,
  resourcePolicy,
  stackPolicy,
} from "../core";

export const imageBuildSinglePlatform = resourcePolicy(
  "image-build-single-platform",
  "Each image is built by docker-build for exactly one explicit platform, so the registry gets a single manifest: no docker-build Index (a manifest list).",
  [TYPES.image, TYPES.imageIndex],
  ({ type, name, props }, report) => {
    if (type === TYPES.imageIndex) {
      report(
        `docker-build Index "${name}" pushes a manifest list (one tag, several images); Lambda refuses it and the verifier rejects it: deploy one single-platform image by digest`,
      );
      return;
    }
    const platforms = read(() => props.platforms as string[] | undefined);
    if (!platforms.known) return;
    const list = buildPlatforms(platforms.value ?? []);
    if (list.length !== 1) {
      report(
        `image build "${name}" has ${list.length === 0 ? "no platforms (the builder's own platform is used)" : `${list.length} platforms (${list.join(", ")}), which makes a manifest list`}; ` +
          `set platforms to exactly one, e.g. ["linux/arm64"]`,
      );
    }
  },
);

export const imageBuildNoAttestations = resourcePolicy(
  "image-build-no-attestations",
  "docker-build runs in embedded mode (exec false, provenance off) and nothing forces a manifest list; not the classic @pulumi/docker Image or RegistryImage.",
  [TYPES.image, TYPES.classicImage, TYPES.classicRegistryImage],
  ({ type, name, props }, report) => {
    if (type !== TYPES.image) {
      report(
        `${type === TYPES.classicImage ? "docker Image" : "docker RegistryImage"} "${name}" (classic @pulumi/docker) builds or pushes through the docker engine, whose buildx adds provenance attestations by default (an index) and pushes by tag; use @pulumi/docker-build's Image (ContainerImage)`,
      );
      return;
    }
    if (props.exec === true) {
      report(
        `image build "${name}" has exec: true, which runs the docker CLI and turns BuildKit's default provenance attestation back on (an index, not a manifest); remove exec`,
      );
    }
    const multi = read(() => props.buildArgs?.BUILDKIT_MULTI_PLATFORM as string | undefined);
    if (multi.known && typeof multi.value === "string" && goBool(multi.value) !== false) {
      report(
        goBool(multi.value)
          ? `image build "${name}" sets build arg BUILDKIT_MULTI_PLATFORM=${multi.value}, which forces a manifest list; remove it`
          : `image build "${name}" sets build arg BUILDKIT_MULTI_PLATFORM=${JSON.stringify(multi.value)}, which is not a boolean BuildKit reads; remove it`,
      );
    }
    for (const e of (props.exports ?? []) as Array<{ raw?: string }>) {
      // A raw export built from an output (the repository URL) is unknown in a preview of a new stack;
      // the checks above still run, and this one runs again on the update, when the text is known.
      const raw = read(() => e.raw);
      if (raw.known && typeof raw.value === "string" && /attest|provenance|sbom/i.test(raw.value)) {
        report(
          `image build "${name}" has the export "${raw.value}", which adds attestations (an index); remove them`,
        );
      }
    }
  },
);

export const imageBuildCommitShaTag = stackPolicy(
  "image-build-commit-sha-tag",
  "Pushed images get a tag that starts with the full 40-character commit SHA, never latest: a push by digest carries no tags and gets the commit tag from its verify step; a tagged push carries it itself.",
  ({ resources }, report) => {
    eachResource(
      resources,
      (x) => x.type === TYPES.image,
      (r) => {
        const entries = read(() => imageExportEntries(r.props));
        const tagsRead = read(() => (r.props.tags ?? []) as string[]);
        if (!entries.known || !tagsRead.known) return;
        const pushes =
          r.props.push === true || entries.value.some((e) => e.type === "image" && e.attrs.push === "true");
        if (!pushes) return;
        const byDigest = entries.value.some(
          (e) => e.type === "image" && e.attrs["push-by-digest"] === "true",
        );
        const tagOf = (t: string) => {
          const slash = t.lastIndexOf("/");
          const colon = t.lastIndexOf(":");
          return colon > slash ? t.slice(colon + 1) : "latest";
        };
        if (byDigest) {
          if (tagsRead.value.length > 0) {
            report(
              `image build "${r.name}" pushes by digest but has tags (${tagsRead.value.join(", ")}); BuildKit refuses that ("can't push tagged ref … by digest"): remove the tags and tag the verified digest instead`,
              r.urn,
            );
          }
          // The commit tag comes from the verify step that follows this build.
          const verifies = resources.filter(
            (v) => isVerifyCommand(v) && v.dependencies.some((d) => d.urn === r.urn),
          );
          const tags = verifies.flatMap((v) => {
            const create = read(() => v.props.create as string | undefined);
            return create.known && typeof create.value === "string"
              ? [parseVerifyCommandLine(create.value)?.tag]
              : [undefined];
          });
          if (verifies.length === 0 || !tags.some((t) => t === undefined || COMMIT_SHA_TAG.test(t))) {
            report(
              `image build "${r.name}" pushes by digest and no verify step tags it with the commit (verify-image --tag <40-char commit sha>-<arch>-…); ContainerImage does this`,
              r.urn,
            );
          }
          return;
        }
        const tags = tagsRead.value.map(tagOf);
        if (tags.includes("latest")) {
          report(
            `image build "${r.name}" pushes the tag latest, which moves and names no commit; tag it <40-char commit sha>-<arch>-… instead`,
            r.urn,
          );
        }
        if (!tags.some((t) => COMMIT_SHA_TAG.test(t))) {
          report(
            `image build "${r.name}" has no commit-SHA tag (tags: ${tags.join(", ") || "none"}); add a tag that starts with the full 40-character commit SHA`,
            r.urn,
          );
        }
      },
    );
  },
);
