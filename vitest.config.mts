import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/setup/registry.global.ts"],
    // Pulumi's runtime keeps its settings in process-wide state: run each test file in its own
    // worker and the tests inside one file one after another.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
