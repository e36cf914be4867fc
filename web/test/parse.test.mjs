// Unit tests for web/parse.js (node --test web/test/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f16, hex, parseNumber, parseValues } from '../parse.js';

test('parseValues splits on spaces, commas and semicolons', () => {
  assert.deepEqual(Array.from(parseValues(' 0.5, -1  2;3\n4 ')), [0.5, -1, 2, 3, 4]);
  assert.ok(parseValues('1') instanceof Float32Array);
  assert.equal(parseValues('0.1')[0], Math.fround(0.1));
});

test('parseValues says which value is wrong', () => {
  assert.throws(() => parseValues(' , ;'), { message: 'type at least one number' });
  assert.throws(() => parseValues('1 2 x 4'), { message: '"x" (value 3) is not a finite number' });
  assert.throws(() => parseValues('1 Infinity'), { message: '"Infinity" (value 2) is not a finite number' });
});

test('parseNumber reads infinities and NaN, rejects the rest', () => {
  assert.equal(parseNumber(' 1e3 '), 1000);
  assert.equal(parseNumber('-inf'), -Infinity);
  assert.equal(parseNumber('+Infinity'), Infinity);
  assert.ok(Number.isNaN(parseNumber('NaN')));
  assert.throws(() => parseNumber(''), { message: '"" is not a number' });
  assert.throws(() => parseNumber('abc'), { message: '"abc" is not a number' });
});

test('f16 decodes normals, subnormals, infinities and NaN (little-endian)', () => {
  assert.equal(f16(0x00, 0x3c), 1);
  assert.equal(f16(0x00, 0xc0), -2);
  assert.equal(f16(0x55, 0x35), 0.333251953125);
  assert.equal(f16(0xff, 0x7b), 65504);
  assert.equal(f16(0x01, 0x00), 2 ** -24);
  assert.equal(f16(0x00, 0x7c), Infinity);
  assert.equal(f16(0x00, 0xfc), -Infinity);
  assert.ok(Number.isNaN(f16(0x01, 0x7c)));
  assert.ok(Object.is(f16(0x00, 0x80), -0));
});

test('hex writes two digits a byte', () => {
  assert.equal(hex(new Uint8Array([0, 15, 16, 255])), '00 0f 10 ff');
  assert.equal(hex([]), '');
});
