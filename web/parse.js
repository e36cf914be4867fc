// Reading numbers from what the teaching page's reader types and from a
// block's bytes: pure functions, no DOM (web/test/ runs them in Node).

// "0.5, -1 2;3" -> Float32Array [0.5, -1, 2, 3]; throws with a sentence for
// the page when there is no number or one is not finite.
export function parseValues(text) {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  const values = parts.map(Number);
  const bad = parts.findIndex((p, i) => !Number.isFinite(values[i]));
  if (parts.length === 0) throw new Error('type at least one number');
  if (bad >= 0) throw new Error(`"${parts[bad]}" (value ${bad + 1}) is not a finite number`);
  return new Float32Array(values);
}

// One number, infinities ("inf", "-Infinity") and "nan" included.
export function parseNumber(text) {
  const t = text.trim().toLowerCase();
  if (/^[-+]?inf(inity)?$/.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (t === 'nan') return NaN;
  const v = Number(t);
  if (t === '' || Number.isNaN(v)) throw new Error(`"${text}" is not a number`);
  return v;
}

// The IEEE half-precision value of two little-endian bytes.
export function f16(lo, hi) {
  const h = lo | (hi << 8);
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
