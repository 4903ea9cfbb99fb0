import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".toolchain/", ".pulumi-state/", ".local/", "out/", "build/", "**/*.js", "**/*.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Dynamic providers are serialized into state by Pulumi, so the modules they
    // use must be loaded with require() inside their methods.
    files: ["src/provider/**/*.ts", "test/fixtures/**/*.ts", "components/**/*provider*.ts"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
);
