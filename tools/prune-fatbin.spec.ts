import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pruneFatbinSection } from './prune-fatbin';

/** A fat binary entry: 64-byte header (kind, version, header size, payload size, arch) + payload. */
function entry(arch: number, payload: number[]): Buffer {
  const header = Buffer.alloc(64);
  header.writeUInt16LE(2, 0);
  header.writeUInt16LE(0x101, 2);
  header.writeUInt32LE(64, 4);
  header.writeBigUInt64LE(BigInt(payload.length), 8);
  header.writeUInt32LE(arch, 28);
  return Buffer.concat([header, Buffer.from(payload)]);
}

/** A container: magic, version, 16-byte header, body size, then its entries. */
function container(entries: Buffer[]): Buffer {
  const body = Buffer.concat(entries);
  const header = Buffer.alloc(16);
  header.writeUInt32LE(0xba55ed50, 0);
  header.writeUInt16LE(1, 4);
  header.writeUInt16LE(16, 6);
  header.writeBigUInt64LE(BigInt(body.length), 8);
  return Buffer.concat([header, body]);
}

describe('pruneFatbinSection', () => {
  it('keeps only the entries of the architecture, zeroes the rest, keeps the section size', () => {
    const sm80 = entry(80, [1, 1, 1, 1, 1, 1, 1, 1]);
    const sm90 = entry(90, [9, 9, 9, 9, 9, 9, 9, 9]);
    const section = Buffer.concat([
      container([sm80, sm90]),
      container([entry(120, [7, 7, 7, 7, 7, 7, 7, 7])]),
    ]);
    const size = section.length;
    const report = pruneFatbinSection(section, 90);
    assert.deepEqual(report, { containers: 2, keptBytes: 72, droppedBytes: 72, untouched: 1 });
    assert.equal(section.length, size);
    assert.equal(section.readBigUInt64LE(8), 72n);
    assert.deepEqual(section.subarray(16, 16 + 72), sm90);
    assert.ok(section.subarray(16 + 72, 16 + 144).every((b) => b === 0));
    assert.equal(section.readUInt32LE(16 + 144 + 16 + 28), 120, 'a container without sm_90 stays');
  });
});
