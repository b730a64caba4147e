/**
 * Keeps only the device code of one GPU architecture in a CUDA shared library, so it travels
 * small: each fat binary container in `.nv_fatbin` is rewritten with the entries built for
 * `sm_<arch>` alone (what `nvcc -gencode arch=compute_<arch>,code=sm_<arch>` would have
 * produced) and the freed bytes are zeroed, which any compressor then folds away. A container
 * with no entry for that architecture is left whole. The file keeps its size and layout.
 *
 *   node dist/tools/prune-fatbin.js <in.so> <out.so> <arch, e.g. 90>
 *
 * The ONNX Runtime CUDA provider (220 MB, 164 MB with xz) holds cubins for sm_75 to sm_120;
 * for one Hopper GPU the pruned file compresses to a fraction of that.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const CONTAINER_MAGIC = 0xba55ed50;

/** What pruning kept and dropped, in bytes of device code. */
export interface PruneReport {
  containers: number;
  keptBytes: number;
  droppedBytes: number;
  /** Containers without an entry for the architecture, left whole. */
  untouched: number;
}

/** Offset and size of a named section of a 64-bit little-endian ELF file. */
export function elfSection(elf: Buffer, name: string): { offset: number; size: number } {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    throw new Error('not a 64-bit little-endian ELF file');
  }
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const names = shoff + elf.readUInt16LE(0x3e) * shentsize;
  const namesOffset = Number(elf.readBigUInt64LE(names + 0x18));
  for (let i = 0; i < shnum; i++) {
    const header = shoff + i * shentsize;
    const nameStart = namesOffset + elf.readUInt32LE(header);
    const sectionName = elf.toString('latin1', nameStart, elf.indexOf(0, nameStart));
    if (sectionName === name) {
      return {
        offset: Number(elf.readBigUInt64LE(header + 0x18)),
        size: Number(elf.readBigUInt64LE(header + 0x20)),
      };
    }
  }
  throw new Error(`no ${name} section`);
}

/**
 * Rewrites, in place, the fat binary containers of `section` (the bytes of `.nv_fatbin`) so
 * that each holds only its entries for `arch`. Entry layout: u16 kind, u16 version, u32 header
 * size, u64 payload size, then the architecture as u32 at byte 28 of the header.
 */
export function pruneFatbinSection(section: Buffer, arch: number): PruneReport {
  const report: PruneReport = { containers: 0, keptBytes: 0, droppedBytes: 0, untouched: 0 };
  let pos = 0;
  while (pos + 16 <= section.length) {
    if (section.readUInt32LE(pos) !== CONTAINER_MAGIC) {
      pos += 8; // containers are 8-byte aligned; padding between them is skipped
      continue;
    }
    const headerSize = section.readUInt16LE(pos + 6);
    const bodySize = Number(section.readBigUInt64LE(pos + 8));
    const body = pos + headerSize;
    const end = body + bodySize;
    const kept: Buffer[] = [];
    for (let entry = body; entry < end;) {
      const entryHeader = section.readUInt32LE(entry + 4);
      const entrySize = entryHeader + Number(section.readBigUInt64LE(entry + 8));
      if (section.readUInt32LE(entry + 28) === arch) {
        kept.push(Buffer.from(section.subarray(entry, entry + entrySize)));
      }
      entry += entrySize;
    }
    report.containers++;
    if (kept.length === 0) {
      report.untouched++;
    } else {
      const keptBody = Buffer.concat(kept);
      keptBody.copy(section, body);
      section.fill(0, body + keptBody.length, end);
      section.writeBigUInt64LE(BigInt(keptBody.length), pos + 8);
      report.keptBytes += keptBody.length;
      report.droppedBytes += bodySize - keptBody.length;
    }
    pos = end;
  }
  return report;
}

function main(): void {
  const [input, output, archText] = process.argv.slice(2);
  const arch = Number(archText);
  if (!input || !output || !Number.isInteger(arch)) {
    throw new Error('usage: prune-fatbin <in.so> <out.so> <arch, e.g. 90>');
  }
  const elf = readFileSync(input);
  const { offset, size } = elfSection(elf, '.nv_fatbin');
  const report = pruneFatbinSection(elf.subarray(offset, offset + size), arch);
  writeFileSync(output, elf);
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  process.stdout.write(
    `sm_${arch}: kept ${mb(report.keptBytes)} MiB of device code, zeroed ${mb(report.droppedBytes)} MiB ` +
      `(${report.containers} containers, ${report.untouched} without sm_${arch} left whole) -> ${output}\n`,
  );
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`prune-fatbin: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
