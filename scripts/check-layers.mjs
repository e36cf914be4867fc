#!/usr/bin/env node
// The crate's layers, and the check that each imports only downward.
//
// LAYERS below is the one place the order is written down. A module may use
// (by `crate::...` or a `super::...` that climbs out of it) only itself and
// the modules to its left. Every file under crate/src counts, tests included:
// a test that needs an upper layer belongs to that layer. Comments and string
// literals are ignored, so doc comments may name any module.
//
//   node scripts/check-layers.mjs   (scripts/test.sh runs it before clippy)
//
// It prints file:line and the upward path for each violation and exits 1.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAYERS = ['error', 'cpu', 'par', 'formats', 'quant', 'io', 'gpu', 'model', 'wasm', 'bin'];

// Layers inside a module, lowest first: a file of `module/<part>` may use
// `crate::module::<other>` (or reach it through `super::`) only for an
// `<other>` in its own group or one to its left. The instruction-set
// folders share a group (they are never compiled together), and so do the
// algorithms built on the entry points.
export const SUBLAYERS = {
  quant: [
    ['types'],
    ['layout'],
    ['reference'],
    ['lanes'],
    ['x86', 'wasm'],
    ['traits'],
    ['blocks'],
    ['act'],
    ['dot'],
    ['gptq', 'metrics', 'preset', 'synth', 'teach'],
    ['tests'],
  ],
};

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'crate', 'src');

/** `text` with comments and string / char literals blanked to spaces (newlines kept). */
export function stripCode(text) {
  const out = [];
  const n = text.length;
  const blank = (c) => (c === '\n' ? '\n' : ' ');
  const ident = (c) => c !== undefined && /[A-Za-z0-9_]/.test(c);
  let i = 0;
  while (i < n) {
    const c = text[i];
    const d = text[i + 1];
    if (c === '/' && d === '/') {
      while (i < n && text[i] !== '\n') { out.push(' '); i++; }
    } else if (c === '/' && d === '*') {
      let depth = 0;
      do {
        if (text[i] === '/' && text[i + 1] === '*') { depth++; out.push('  '); i += 2; }
        else if (text[i] === '*' && text[i + 1] === '/') { depth--; out.push('  '); i += 2; }
        else { out.push(blank(text[i])); i++; }
      } while (i < n && depth > 0);
    } else if ((c === 'r' || (c === 'b' && d === 'r')) && !ident(text[i - 1]) &&
               /^b?r#*"/.test(text.slice(i, i + 260))) {
      // Raw string: r"..", r#".."#, br#".."#.
      const m = /^b?r(#*)"/.exec(text.slice(i, i + 260));
      const close = '"' + m[1];
      let j = text.indexOf(close, i + m[0].length);
      if (j < 0) j = n;
      for (let k = i; k < j + close.length && k < n; k++) out.push(blank(text[k]));
      i = j + close.length;
    } else if (c === '"') {
      out.push(' '); i++;
      while (i < n && text[i] !== '"') {
        if (text[i] === '\\') { out.push(' '); i++; }
        if (i < n) { out.push(blank(text[i])); i++; }
      }
      out.push(' '); i++;
    } else if (c === "'") {
      // A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a).
      const m = /^'(\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'/su.exec(text.slice(i, i + 16));
      if (m) {
        for (let k = 0; k < m[0].length; k++) out.push(' ');
        i += m[0].length;
      } else {
        out.push(c); i++;
      }
    } else {
      out.push(c); i++;
    }
  }
  return out.join('');
}

function rsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return rsFiles(p);
    return e.name.endsWith('.rs') ? [p] : [];
  });
}

/** Module path of a file by its place in the tree (crate/src/a/b.rs: [a, b]; a/mod.rs: [a]). */
function treePath(file) {
  const parts = relative(src, file).split(sep);
  const last = parts.pop().replace(/\.rs$/, '');
  if (last !== 'mod') parts.push(last);
  return parts;
}

const lineOf = (text, at) => text.slice(0, at).split('\n').length;

export function check() {
  const files = rsFiles(src).sort();
  const code = new Map(files.map((f) => [f, stripCode(readFileSync(f, 'utf8'))]));

  // Files named by `#[path = "..."] mod name;` are module `name` of the file
  // that declares them, not what their own file name says.
  const modPath = new Map(files.map((f) => [f, treePath(f)]));
  for (const f of files) {
    const raw = readFileSync(f, 'utf8');
    for (const m of raw.matchAll(/#\[path\s*=\s*"([^"]+)"\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;/g)) {
      const target = join(dirname(f), m[1]);
      const base = modPath.get(f);
      modPath.set(target, [...base, m[2]]);
    }
  }

  // Items a module file re-exports from its submodules, by the submodule
  // they come from (`pub use error::{Error, Result};`).
  const reexports = (body) => {
    const items = new Map();
    for (const m of body.matchAll(/\bpub\s+use\s+(\w+)\s*::\s*(\{[^}]*\}|\w+)\s*;/g)) {
      for (const name of m[2].replace(/[{}]/g, '').split(',').map((x) => x.trim()).filter(Boolean)) {
        items.set(name.split(/\s+as\s+/).pop(), m[1]);
      }
    }
    return items;
  };
  const rootItems = reexports(code.get(join(src, 'lib.rs')) ?? '');
  const subItems = new Map(
    Object.keys(SUBLAYERS).map((mod) => [mod, reexports(code.get(join(src, mod, 'mod.rs')) ?? '')]),
  );
  const subRank = (mod, part) => SUBLAYERS[mod].findIndex((g) => g.includes(part));

  const problems = [];
  for (const f of files) {
    if (f === join(src, 'lib.rs')) continue; // the root declares the modules
    const rel = relative(root, f);
    const path = modPath.get(f);
    const own = path[0];
    const ownRank = LAYERS.indexOf(own);
    if (ownRank < 0) {
      problems.push(`${rel}: module ${own} is not in the layer order: add it to LAYERS in scripts/check-layers.mjs`);
      continue;
    }
    // The CLI is a crate of its own on top: its `crate::` is itself, and
    // it may use every layer (as `webquant::...`).
    if (own === LAYERS.at(-1)) continue;
    const text = code.get(f);
    // Inside a module with sublayers: `crate::<own>::<part>` (or
    // `super::..::<part>` reaching the module) must not go up.
    const subs = SUBLAYERS[own];
    const ownPart = path[1];
    const referPart = (at, target, shown) => {
      if (!subs || ownPart === undefined) return;
      const part = subItems.get(own).get(target) ?? target;
      const rank = subRank(own, part);
      const mine = subRank(own, ownPart);
      if (mine < 0) {
        problems.push(`${rel}: ${own}::${ownPart} is not in SUBLAYERS.${own} in scripts/check-layers.mjs`);
      } else if (rank < 0) {
        problems.push(`${rel}:${lineOf(text, at)}: ${shown}: ${own}::${part} is not in SUBLAYERS.${own}`);
      } else if (rank > mine) {
        problems.push(`${rel}:${lineOf(text, at)}: ${own}::${ownPart} imports ${own}::${part} (${shown}), a layer above it`);
      }
    };
    if (subs && ownPart !== undefined) {
      const re = new RegExp(`(?<![\\w$])crate\\s*::\\s*${own}\\s*::\\s*(\\w+|\\{[^}]*\\})`, 'g');
      for (const m of text.matchAll(re)) {
        for (const name of m[1].replace(/[{}]/g, '').split(',').map((x) => /^\s*(\w+)/.exec(x)?.[1]).filter(Boolean)) {
          if (name !== 'self') referPart(m.index, name, `crate::${own}::${name}`);
        }
      }
    }
    const refer = (at, target, shown) => {
      const module = rootItems.get(target) ?? target;
      const rank = LAYERS.indexOf(module);
      if (rank < 0) {
        problems.push(`${rel}:${lineOf(text, at)}: ${shown}: ${module} is not a module in the layer order`);
      } else if (rank > ownRank) {
        problems.push(`${rel}:${lineOf(text, at)}: ${own} imports ${module} (${shown}), a layer above it`);
      }
    };

    // crate::a, crate::{a, b::c}
    for (const m of text.matchAll(/(?<![\w$])crate\s*::\s*(\w+|\{)((?:\s*::\s*\w+)*)/g)) {
      if (m[1] !== '{') { refer(m.index, m[1], `crate::${m[1]}${m[2].replace(/\s+/g, '')}`); continue; }
      let depth = 0;
      let j = m.index + m[0].length - 1;
      let item = '';
      const heads = [];
      for (; j < text.length; j++) {
        const c = text[j];
        if (c === '{') { depth++; if (depth === 1) continue; }
        if (c === '}') { depth--; if (depth === 0) break; }
        if (depth === 1 && c === ',') { heads.push(item); item = ''; continue; }
        item += c;
      }
      heads.push(item);
      for (const h of heads) {
        const name = /^\s*(\w+)/.exec(h)?.[1];
        if (name && name !== 'self') refer(m.index, name, `crate::{${name}..}`);
      }
    }

    // super::super::x that climbs out of the file's top module. Inline
    // `mod name { .. }` blocks add a level each.
    const inline = []; // brace depths at which inline modules opened
    let depth = 0;
    const tokens = /\bmod\s+\w+\s*\{|\{|\}|(?<![\w:])((?:super\s*::\s*)+)(\w+)((?:\s*::\s*\w+)*)/g;
    for (const m of text.matchAll(tokens)) {
      if (m[0].startsWith('mod')) { depth++; inline.push(depth); continue; }
      if (m[0] === '{') { depth++; continue; }
      if (m[0] === '}') { if (inline.at(-1) === depth) inline.pop(); depth--; continue; }
      const ups = m[1].match(/super/g).length;
      const level = path.length + inline.length;
      const shown = `${m[1]}${m[2]}${m[3]}`.replace(/\s+/g, '');
      if (ups >= level) refer(m.index, m[2], shown);
      else if (ups === level - 1) referPart(m.index, m[2], shown);
    }
  }
  return problems;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const problems = check();
  if (problems.length) {
    console.error(`upward imports (layers, lowest first: ${LAYERS.join(' → ')}):`);
    for (const p of problems) console.error(`  ${p}`);
    process.exit(1);
  }
  console.log(`layers import only downward: ${LAYERS.join(' → ')}`);
}
