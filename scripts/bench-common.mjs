// What the benchmark scripts share: their flags, running a command, and the
// SmolLM2-135M F16 model with a release `webquant` beside it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { root } from '../tests/harness.mjs';

// `--name value` from the command line, or `dflt`.
export function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

export const skipBuild = process.argv.includes('--skip-build');

// Runs `cmd` in the repository root; throws if it fails. With `capture`,
// returns its standard output (stderr still goes to the terminal).
export function run(cmd, args, { capture = false } = {}) {
  const stdio = capture ? ['ignore', 'pipe', 'inherit'] : 'inherit';
  const r = spawnSync(cmd, args, { cwd: root, stdio, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
  return r.stdout;
}

// Builds the release CLI and the simd web build (unless --skip-build) and
// returns their paths with SmolLM2's F16 GGUF, which scripts/test.sh makes.
export function smollm2Setup() {
  if (!skipBuild) {
    run('cargo', ['build', '--release', '--bin', 'webquant']);
    run('node', ['scripts/build-web.mjs', '--variant', 'simd']);
  }
  const f16 = join(root, 'target/test-models/smollm2-135m-f16.gguf');
  if (!existsSync(f16)) throw new Error(`${f16} is missing: run scripts/test.sh once (it makes it)`);
  return { wq: join(root, 'target/release/webquant'), f16 };
}
