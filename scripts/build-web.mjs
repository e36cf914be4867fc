// Builds the wasm modules the web app loads, with the settings in
// wasm-pack.toml: cargo (wasm32-unknown-unknown) -> wasm-bindgen -> wasm-opt,
// once per variant (simd128 on / off), into web/pkg/<variant>/.
//
// Usage: node scripts/build-web.mjs [--variant simd|plain]
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cfg = parse(readFileSync(join(root, 'wasm-pack.toml'), 'utf8'));
const build = cfg.build ?? {};
const crateDir = join(root, build.crate ?? 'crate');
const profile = build.profile ?? 'release';
const features = build.features ?? [];
const bindgenTarget = build.target ?? 'web';
const outDir = join(root, build['out-dir'] ?? 'web/pkg');
const opt = cfg['wasm-opt'] ?? { enabled: false };

const only = process.argv.includes('--variant') ? process.argv[process.argv.indexOf('--variant') + 1] : null;
const variants = Object.entries(cfg.variants ?? { plain: { simd128: false } }).filter(([n]) => !only || n === only);
if (variants.length === 0) fail(`no variant named ${only} in wasm-pack.toml`);

function fail(msg) {
  console.error(`build-web: ${msg}`);
  process.exit(1);
}

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  if (r.error) fail(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${r.status}`);
}

const crateName = (() => {
  const toml = parse(readFileSync(join(crateDir, 'Cargo.toml'), 'utf8'));
  return toml.package.name.replace(/-/g, '_');
})();

// wasm features rustc enables by default for wasm32-unknown-unknown; wasm-opt
// must be told about them or it rejects the module.
const baseFeatures = [
  '--enable-bulk-memory', '--enable-mutable-globals', '--enable-nontrapping-float-to-int',
  '--enable-sign-ext', '--enable-reference-types', '--enable-multivalue',
];

for (const [name, v] of variants) {
  const t0 = Date.now();
  // Separate target dirs: different RUSTFLAGS would otherwise rebuild each time.
  const targetDir = join(root, 'target', `web-${name}`);
  const targetFeatures = [...(v.simd128 ? ['+simd128'] : []), ...(v.atomics ? ['+atomics', '+bulk-memory', '+mutable-globals'] : [])];
  const rustflags = targetFeatures.length ? ['-C', `target-feature=${targetFeatures.join(',')}`] : [];
  if (v.atomics) {
    // A shared memory the JS glue creates and hands to every thread, and
    // the thread-local storage symbols wasm-bindgen's thread support uses
    // (rustc does not ask the linker for them on its own).
    const link = ['--shared-memory', '--import-memory', '--export=__wasm_init_tls', '--export=__tls_size', '--export=__tls_align', '--export=__tls_base'];
    if (v['max-memory']) link.push(`--max-memory=${v['max-memory']}`);
    for (const l of link) rustflags.push('-C', `link-arg=${l}`);
  }
  const args = ['build', '--lib', '--target', 'wasm32-unknown-unknown', '--manifest-path', join(crateDir, 'Cargo.toml')];
  // std as shipped has no atomics: rebuild it with the module's features.
  if (v.atomics) args.push('-Z', 'build-std=panic_abort,std');
  if (profile === 'release') args.push('--release');
  else if (profile !== 'dev') args.push('--profile', profile);
  if (features.length) args.push('--features', features.join(','));
  console.log(`build-web: [${name}] cargo ${args.join(' ')}${rustflags.length ? ` (RUSTFLAGS ${rustflags.join(' ')})` : ''}`);
  run('cargo', args, {
    CARGO_TARGET_DIR: targetDir,
    // Encoded flags replace any RUSTFLAGS the caller has, so a variant is
    // exactly what wasm-pack.toml says.
    CARGO_ENCODED_RUSTFLAGS: rustflags.join('\x1f'),
    // -Z build-std is unstable: let the stable toolchain accept it.
    ...(v.atomics ? { RUSTC_BOOTSTRAP: '1' } : {}),
  });
  const profDir = profile === 'dev' ? 'debug' : profile;
  const wasm = join(targetDir, 'wasm32-unknown-unknown', profDir, `${crateName}.wasm`);
  if (!existsSync(wasm)) fail(`cargo did not produce ${wasm}`);

  // Build into a temporary folder and swap it in, so a failed build never
  // leaves a half-written package that the page would load.
  const dest = join(outDir, name);
  const tmp = `${dest}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  run('wasm-bindgen', ['--target', bindgenTarget, '--out-dir', tmp, '--out-name', 'webquant', wasm]);
  const bg = join(tmp, 'webquant_bg.wasm');
  if (opt.enabled) {
    const wasmOpt = join(root, 'node_modules', '.bin', 'wasm-opt');
    if (!existsSync(wasmOpt)) {
      console.log('build-web: wasm-opt skipped: npm package binaryen is not installed (run npm ci)');
    } else {
      const flags = [...baseFeatures, ...(v.simd128 ? ['--enable-simd'] : []), ...(v.atomics ? ['--enable-threads'] : [])];
      run(wasmOpt, [...(opt.args ?? ['-O3']), ...flags, bg, '-o', bg]);
    }
  } else {
    console.log('build-web: wasm-opt disabled in wasm-pack.toml');
  }
  writeFileSync(join(tmp, 'variant.json'), JSON.stringify({ variant: name, simd128: !!v.simd128, threads: !!v.atomics, profile, wasmOpt: !!opt.enabled }, null, 2));
  // Every file of the package (wasm-bindgen adds JS snippets, such as the
  // thread pool's worker, under hashed names): the service worker keeps
  // them all for offline use.
  const files = readdirSync(tmp, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath ?? e.path, e.name).slice(tmp.length + 1).split('\\').join('/'))
    .sort();
  writeFileSync(join(tmp, 'files.json'), JSON.stringify(files, null, 2));
  rmSync(dest, { recursive: true, force: true });
  renameSync(tmp, dest);
  const kib = (statSync(join(dest, 'webquant_bg.wasm')).size / 1024).toFixed(0);
  console.log(`build-web: [${name}] ${dest}/webquant_bg.wasm ${kib} KiB in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

// The chart library the pages import (npm uplot, from the lockfile), copied
// next to them: web/ is served as it is, without a bundler.
{
  const src = join(root, 'node_modules', 'uplot', 'dist');
  const dest = join(root, 'web', 'vendor');
  if (!existsSync(src)) fail('node_modules/uplot is missing: run npm ci');
  mkdirSync(dest, { recursive: true });
  for (const f of ['uPlot.esm.js', 'uPlot.min.css']) copyFileSync(join(src, f), join(dest, f));
}
