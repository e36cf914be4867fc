// Drawing helpers for the teaching page's training demo: turning the
// library's numbers into pixels and chart series. Pure functions, no DOM
// (web/test/ runs them in Node); no quantization maths here.

// The two classes' colours (class 0 blue, class 1 orange); p = 0.5 is white.
export const CLASS0 = [36, 87, 197];
export const CLASS1 = [197, 83, 31];

// P(class 1) per cell (row-major, `size` x `size`) to RGBA pixels: blue
// through white to orange, so the decision boundary is the white band.
export function boundaryPixels(probs, size) {
  if (probs.length !== size * size) throw new Error(`expected ${size * size} cells, got ${probs.length}`);
  const px = new Uint8ClampedArray(4 * size * size);
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    const [c, t] = p < 0.5 ? [CLASS0, 1 - 2 * p] : [CLASS1, 2 * p - 1];
    for (let k = 0; k < 3; k++) px[4 * i + k] = Math.round(255 + (c[k] - 255) * t * 0.55);
    px[4 * i + 3] = 255;
  }
  return px;
}

// A point (x, y) of the plane to pixel coordinates of a `px`-wide square
// image covering [-extent, extent]² (y up).
export function toPixel(x, y, extent, px) {
  return [((x + extent) / (2 * extent)) * px, ((extent - y) / (2 * extent)) * px];
}

// The middle of each histogram bin.
export const binMids = (edges) => edges.slice(0, -1).map((e, i) => (e + edges[i + 1]) / 2);

// One step's gradients as a chart takes them: the upstream gradients sorted
// (the x axis, and the line y = x a passed gradient sits on) and what the
// STE made of each.
export function gradientSeries(upstream, ste) {
  if (upstream.length !== ste.length) throw new Error('upstream and STE gradients differ in length');
  const order = Array.from(upstream.keys()).sort((a, b) => upstream[a] - upstream[b]);
  const xs = order.map((i) => upstream[i]);
  return [xs, xs.slice(), order.map((i) => ste[i])];
}
