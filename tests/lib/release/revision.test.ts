/** Which revision a Cloud Run release asks for, from what the live service says (lib/release/revision.ts). */
import { describe, expect, it } from "vitest";
import { chooseRevision, liveRevisionsOf, revisionAttempt } from "../../../lib/release/revision";

const BASE = "api-0123456-b7a84";

describe("chooseRevision", () => {
  it.each([
    ["a service this update creates", undefined, BASE],
    [
      "a service that runs another release",
      { asked: "api-fedcba9-00000", latestReady: "api-fedcba9-00000" },
      BASE,
    ],
    ["a re-run after this release served", { asked: BASE, latestReady: BASE }, BASE],
    ["a re-run after a fresh attempt served", { asked: `${BASE}-2`, latestReady: `${BASE}-2` }, `${BASE}-2`],
    [
      "a re-run after this revision failed to start",
      { asked: BASE, latestReady: "api-fedcba9-00000" },
      `${BASE}-2`,
    ],
    [
      "a re-run after the second attempt failed too",
      { asked: `${BASE}-2`, latestReady: "api-fedcba9-00000" },
      `${BASE}-3`,
    ],
    ["a first revision that never became ready", { asked: BASE, latestReady: undefined }, `${BASE}-2`],
    [
      "a stack gone back to an older revision that serves, not the newest ready one",
      { asked: BASE, latestReady: "api-fedcba9-00000", serving: [BASE] },
      BASE,
    ],
  ])("%s", (_what, live, name) => {
    expect(chooseRevision(BASE, live).name).toBe(name);
  });

  it("says why it did not ask for the base name, naming both revisions", () => {
    expect(chooseRevision(BASE, { asked: BASE, latestReady: "api-fedcba9-00000" }).note).toBe(
      `revision ${BASE} did not become ready (the newest ready one is api-fedcba9-00000) and Cloud Run does not make a revision twice under one name: this release makes ${BASE}-2`,
    );
    expect(chooseRevision(BASE, { asked: BASE, latestReady: BASE }).note).toBeUndefined();
  });

  it("never takes another release's name, or a look-alike, for an attempt of this one", () => {
    expect(revisionAttempt(BASE, `${BASE}-2`)).toBe(2);
    expect(revisionAttempt(BASE, `${BASE}-02`)).toBeUndefined();
    expect(revisionAttempt(BASE, `${BASE}-x`)).toBeUndefined();
    expect(revisionAttempt(BASE, `${BASE}0`)).toBeUndefined();
    expect(revisionAttempt(BASE, undefined)).toBeUndefined();
  });
});

describe("liveRevisionsOf", () => {
  it("reads the data source's full revision names as short ones; nothing ready is undefined", () => {
    const full = (r: string) => `projects/p/locations/us-central1/services/api/revisions/${r}`;
    expect(
      liveRevisionsOf({ templates: [{ revision: BASE }], latestReadyRevision: full("api-fedcba9-00000") }),
    ).toEqual({ asked: BASE, latestReady: "api-fedcba9-00000", serving: [] });
    expect(
      liveRevisionsOf({
        templates: [{ revision: BASE }],
        latestReadyRevision: "",
        trafficStatuses: [
          { revision: "api-fedcba9-00000", percent: 90 },
          { revision: BASE, percent: 0 },
          { percent: 10 },
        ],
      }),
    ).toEqual({ asked: BASE, latestReady: undefined, serving: ["api-fedcba9-00000"] });
  });
});
