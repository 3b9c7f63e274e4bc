import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // The real-engine suite runs on its own (npm run e2e, vitest.e2e.config.mts).
    exclude: ["tests/e2e/**", "**/node_modules/**"],
    globalSetup: ["tests/setup/registry.global.ts"],
    // Pulumi's runtime keeps its settings in process-wide state: run each test file in its own
    // worker and the tests inside one file one after another.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
