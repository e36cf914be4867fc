// How the pages write numbers, sizes, times and progress: pure functions,
// no DOM (web/test/ runs them in Node).

export const fmtInt = (n) => Number(n).toLocaleString('en-US');
export const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
export const fmtNum = (x) => (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4));
export const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
export const plural = (k, w) => `${k} ${w}${k === 1 ? '' : 's'}`;

// A worker job's progress, as most jobs show it: "3 / 47: blk.0.attn_q.weight".
export const progressText = ({ done, total, label }) => `${done} / ${total}: ${label}`;

// A download's progress after `secs` seconds: bytes so far (of `total`, when
// the server said), speed and, with a total, the time left.
export function transferText(done, total, secs) {
  const speed = done / Math.max(secs, 1e-3);
  let text = `${fmtBytes(done)}${total ? ` of ${fmtBytes(total)}` : ''}, ${fmtBytes(speed)}/s`;
  if (total) text += `, ${Math.max(0, (total - done) / speed).toFixed(0)} s left`;
  return text;
}

// One side of a side-by-side generation: speed, tokens, first-token time, device.
export function speedText(s) {
  const n = s.tokens.length;
  if (n === 0) return 'No tokens (the model ended at once).';
  const rate = s.tokPerSec != null ? `${s.tokPerSec.toFixed(1)} tokens/s` : 'one token only';
  return `${rate} · ${plural(n, 'token')} · prompt (${plural(s.promptTokens, 'token')}) and first token ${fmtMs(s.firstMs)} · ${s.device}`;
}
