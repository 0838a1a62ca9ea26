// ESLint: typescript-eslint strict type-checked, plus the layer rules of docs/architecture.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import regexp from 'eslint-plugin-regexp';

/** Folders a layer must never import, with the reason shown to whoever tries. */
const layerRules = [
  {
    files: ['src/codecs/**/*.ts'],
    banned: ['media', 'hub', 'protocols', 'servers', 'app', 'log', 'config'],
    why: 'codecs/ is pure wire formats: it imports nothing above it.',
  },
  {
    files: ['src/media/**/*.ts'],
    banned: ['hub', 'protocols', 'servers', 'app', 'log', 'config'],
    why: 'media/ is pure: no sockets, logger or config.',
  },
  {
    files: ['src/hub/**/*.ts'],
    banned: ['protocols', 'servers', 'app'],
    why: 'the hub never learns a protocol name.',
  },
  {
    files: ['src/protocols/**/*.ts'],
    banned: ['servers', 'app', 'hub'],
    why: 'protocols/ are socket sessions shared by servers and clients; they do not know the hub.',
  },
  {
    files: ['src/servers/rtmp/**/*.ts'],
    banned: ['http-flv', 'app'],
    why: 'servers never import each other; share through media/ or protocols/.',
  },
  {
    files: ['src/servers/http-flv/**/*.ts'],
    banned: ['rtmp', 'app'],
    why: 'servers never import each other; share through media/ or protocols/.',
  },
  {
    files: ['src/recording/**/*.ts'],
    banned: ['protocols', 'servers', 'app'],
    why: 'recording/ is a sink of the hub: it writes, indexes and cuts files, and knows no protocol.',
  },
  {
    files: ['src/cluster/**/*.ts'],
    banned: ['servers', 'app'],
    why: 'cluster/ (pulls from other nodes, the stream map) works through the hub and protocols/, never a server.',
  },
  {
    files: ['src/relay/**/*.ts'],
    banned: ['servers', 'app', 'api', 'cluster'],
    why: 'relay/ (pushes to other services) reads the hub like a viewer and publishes with protocols/, never through a server.',
  },
  {
    files: [
      'src/access/**/*.ts',
      'src/api/**/*.ts',
      'src/analytics/**/*.ts',
      'src/metrics/**/*.ts',
    ],
    banned: ['protocols', 'servers', 'app'],
    why: 'access/, api/, analytics/ and metrics/ decide, administer and observe; servers call them, never the reverse.',
  },
  {
    files: ['src/files/**/*.ts'],
    banned: [
      'codecs',
      'media',
      'hub',
      'protocols',
      'servers',
      'app',
      'log',
      'config',
      'access',
      'api',
      'analytics',
      'metrics',
    ],
    why: 'files/ is a leaf (durable file writes) that any layer may use; it imports nothing of src/.',
  },
  {
    files: ['src/config/**/*.ts', 'src/log/**/*.ts'],
    banned: ['codecs', 'media', 'hub', 'protocols', 'servers', 'app'],
    why: 'config/ and log/ are leaves.',
  },
];

/**
 * eslint-plugin-regexp's "possible errors" of its recommended set, plus no-super-linear-move
 * (not in the set): no regex in src/ may backtrack or rescan super-linearly on what a client
 * sends (a trim regex on the RTMP app stalled every client for seconds). The set's best
 * practice and style rules stay off: 44 reports across src/, none of them a bug.
 */
const regexpRules = {
  ...Object.fromEntries(
    Object.entries(regexp.configs['flat/recommended'].rules).filter(
      ([name]) =>
        name.startsWith('regexp/') &&
        regexp.rules[name.slice('regexp/'.length)]?.meta.docs.category === 'Possible Errors',
    ),
  ),
  'regexp/no-super-linear-backtracking': 'error',
  'regexp/no-super-linear-move': 'error',
};

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'data/**',
      'test-artifacts/**',
      'bench/results/**',
      'web/dashboard/dist/**',
      'dist/**',
      'packages/srt/build/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  { files: ['src/**/*.ts'], plugins: { regexp }, rules: regexpRules },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly' },
    },
  },
  {
    // The SRT addon's loader and install script: CommonJS, run by Node as they are.
    files: ['packages/srt/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'commonjs',
      globals: {
        process: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
      },
    },
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  ...layerRules.map(({ files, banned, why }) => ({
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: banned.map((dir) => ({
            regex: `(^|/)${dir.replace('/', '\\/')}/`,
            message: why,
          })),
        },
      ],
    },
  })),
);
