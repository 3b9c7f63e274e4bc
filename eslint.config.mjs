// @ts-check
import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "bin/**", "**/node_modules/**"] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The offline plan and the tests read recorded provider inputs, which are untyped by nature.
    files: ["tests/**/*.ts", "plan/**/*.ts", "scripts/plan.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  // Layers point one way: program → targets → components → lib. lib/ is pure logic and knows no
  // resources; components wire resources and know no deployment target or stack config.
  ...layer(
    "lib/**/*.ts",
    ["components", "targets", "plan", "program"],
    "lib/ is pure: it imports no components, targets, plan or program",
  ),
  ...layer(
    "components/**/*.ts",
    ["targets", "plan", "program"],
    "components import no targets, plan or program",
  ),
  ...layer("targets/**/*.ts", ["plan", "program"], "targets import no plan or program"),
);

/** A rule that `files` import none of the top-level `dirs` (relative imports, from up to three levels down). */
function layer(files, dirs, message) {
  return [
    {
      files: [files],
      rules: {
        "no-restricted-imports": [
          "error",
          {
            patterns: [
              {
                group: dirs.flatMap((d) =>
                  ["../", "../../", "../../../"].flatMap((up) => [`${up}${d}`, `${up}${d}/*`]),
                ),
                message,
              },
            ],
          },
        ],
      },
    },
  ];
}
