// ESLint flat config: typescript-eslint's recommended rules on every TypeScript file; formatting is Prettier's job.
import js from '@eslint/js'
import tseslint from 'eslint-ts'

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'out/**', '.lab/**', 'state/**', 'config/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // tsc's noUnusedLocals/noUnusedParameters already report these, with the same meaning
      '@typescript-eslint/no-unused-vars': 'off',
      // `catch {}` is how a best-effort cleanup says "whatever happened, carry on"
      'no-empty': ['error', { allowEmptyCatch: true }],
      // tests match talosctl's column-aligned output, where literal runs of spaces read as the output does
      'no-regex-spaces': 'off',
    },
  },
  {
    // the simulator and the tests take apart arbitrary JSON and talosctl-shaped errors; product code may not
    files: ['lab/**', 'test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      'preserve-caught-error': 'off',
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', module: 'writable' } },
  },
)
