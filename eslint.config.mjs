// Lint for the TypeScript sources (type-aware). `npm run lint`; part of `npm test`.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'packages/*/dist/**', 'packages/client/src/protocol.d.ts', 'src/console/web/**/*.js', 'libs/engines/src/stt/narrowband-model.ts'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'suite', 'test'] }] },
      ],
      '@typescript-eslint/require-await': 'off',
      // ws delivers text frames as Buffers; RawData's ArrayBuffer and Buffer[] members never reach these calls.
      '@typescript-eslint/no-base-to-string': ['error', { ignoredTypeNames: ['ArrayBuffer', 'Buffer[]', 'Error', 'RegExp', 'URL', 'URLSearchParams'] }],
    },
  },
  {
    // Tests read JSON bodies loosely and assert on them; the assertions are the type check there.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['scripts/**/*.mjs', 'packages/*/scripts/**/*.mjs', 'packages/*/examples/**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly' } } },
);
