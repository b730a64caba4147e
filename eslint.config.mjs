import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ONE_QUEUE_PROGRESS = {
  selector: "NewExpression[callee.name='QueueProgress']",
  message: 'inject QueueProgress: the API builds one, in main.ts, and CoreModule provides it.',
};
const REDIS_IN_STORES = {
  selector: "Decorator CallExpression[callee.name='Inject'] > Identifier[name='REDIS']",
  message:
    'only stores (*.store.ts) inject REDIS: inject the store or service that reads the keys.',
};

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'models/',
      'test/fixtures/**/*.js',
      'bin/',
      '.gpu/',
      '.gpu-cache/',
      '.gpu-carry/',
      '.venv/',
      // Plain Node scripts, outside the TypeScript project (as bin/ is).
      '*.mjs',
      'tools/*.mjs',
    ],
  },
  js.configs.recommended,
  // The rules that read types: a promise nobody awaits, `await` on what is not one, a method
  // passed on without its `this`, an object printed as "[object Object]", `any` flowing onward.
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // A promise nobody awaits fails silently, or takes the process down with it.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's describe and it return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      // A promise returned from inside try/catch without `await` escapes the catch and finally.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // A switch over a union handles every member, or says `default`.
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
    },
  },
  {
    // Test doubles and simulated devices implement async interfaces with nothing to await.
    files: ['test/**/*.ts', 'bench/**/*.ts', '**/*.spec.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // Tests read JSON answers as `any` on purpose: their assertions are the type check.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // The API process builds one QueueProgress (main.ts) and CoreModule provides it; the Redis
    // connection is injected into stores, which own their keys, and the readiness probe only.
    files: ['apps/api/src/**/*.ts'],
    ignores: [
      'apps/api/src/main.ts',
      'apps/api/src/**/*.store.ts',
      'apps/api/src/core/redis-probe.ts',
    ],
    rules: { 'no-restricted-syntax': ['error', ONE_QUEUE_PROGRESS, REDIS_IN_STORES] },
  },
  {
    files: ['apps/api/src/**/*.store.ts', 'apps/api/src/core/redis-probe.ts'],
    rules: { 'no-restricted-syntax': ['error', ONE_QUEUE_PROGRESS] },
  },
  {
    // The API reads model packages, never runs them: only the handler's light entry, which
    // loads neither onnxruntime-node nor tokenizers (test/e2e/native-runtimes.test.ts proves
    // it at run time; this catches the import before it is written).
    files: ['apps/api/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^@app/handler(?!/package$)',
              message:
                'apps/api imports only @app/handler/package, the entry without onnxruntime-node and tokenizers.',
            },
            {
              regex: '(^|/)libs/handler/',
              message: 'apps/api imports the handler library only as @app/handler/package.',
            },
          ],
        },
      ],
    },
  },
);
