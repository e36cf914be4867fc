// Unit tests for web/teach-plot.js (node --test web/test/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLASS0, CLASS1, binMids, boundaryPixels, gradientSeries, toPixel } from '../teach-plot.js';

test('boundaryPixels: white at p = 0.5, the class colours towards 0 and 1', () => {
  const px = boundaryPixels([0, 0.5, 1, 0.25], 2);
  assert.equal(px.length, 16);
  const rgb = (i) => Array.from(px.slice(4 * i, 4 * i + 3));
  assert.deepEqual(rgb(1), [255, 255, 255]);
  // fully certain: 55 % of the way from white to the class colour
  assert.deepEqual(rgb(0), CLASS0.map((c) => Math.round(255 + (c - 255) * 0.55)));
  assert.deepEqual(rgb(2), CLASS1.map((c) => Math.round(255 + (c - 255) * 0.55)));
  // halfway to class 0: halfway to its colour
  assert.deepEqual(rgb(3), CLASS0.map((c) => Math.round(255 + (c - 255) * 0.5 * 0.55)));
  assert.ok([3, 7, 11, 15].every((i) => px[i] === 255));
  assert.throws(() => boundaryPixels([0, 1, 0], 2), { message: 'expected 4 cells, got 3' });
});

test('toPixel maps the square to the image with y up', () => {
  assert.deepEqual(toPixel(-1.25, 1.25, 1.25, 100), [0, 0]);
  assert.deepEqual(toPixel(1.25, -1.25, 1.25, 100), [100, 100]);
  assert.deepEqual(toPixel(0, 0, 1.25, 100), [50, 50]);
});

test('binMids halves each bin', () => {
  assert.deepEqual(binMids([-1, 0, 1, 3]), [-0.5, 0.5, 2]);
});

test('gradientSeries sorts by the upstream gradient and keeps each STE value with its own', () => {
  const [xs, ys, ste] = gradientSeries([0.3, -0.2, 0.1], [0.3, 0, 0.1]);
  assert.deepEqual(xs, [-0.2, 0.1, 0.3]);
  assert.deepEqual(ys, xs);
  assert.deepEqual(ste, [0, 0.1, 0.3]);
  assert.throws(() => gradientSeries([1], []), { message: 'upstream and STE gradients differ in length' });
});
