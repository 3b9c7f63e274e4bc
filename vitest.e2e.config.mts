import { defineConfig } from "vitest/config";

/** `npm run e2e`: the real engine, providers, BuildKit and registry (tests/e2e/), one scenario after another. */
export default defineConfig({
  test: {
    include: ["tests/e2e/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 20 * 60_000,
    hookTimeout: 40 * 60_000,
  },
});
