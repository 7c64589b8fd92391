// Bundles the extension (Node, CommonJS) and the webview scripts (browser) with esbuild.
// `node build.mjs --tests` also bundles test/*.test.ts for `node --test out/test/`.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'fs';

const tests = process.argv.includes('--tests');
const common = { bundle: true, sourcemap: false, logLevel: 'warning', target: 'es2022' };

rmSync('out', { recursive: true, force: true });
const jobs = [
  build({
    ...common,
    entryPoints: ['src/extension.ts'],
    outfile: 'out/extension.js',
    platform: 'node',
    format: 'cjs',
    external: ['vscode'],
    minify: true,
  }),
  build({
    ...common,
    entryPoints: ['src/webview/output.ts', 'src/webview/media.ts'],
    outdir: 'out/webview',
    platform: 'browser',
    format: 'iife',
  }),
];
if (tests) {
  const entries = readdirSync('test')
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `test/${f}`);
  jobs.push(build({ ...common, entryPoints: entries, outdir: 'out/test', platform: 'node', format: 'cjs' }));
}
await Promise.all(jobs);
