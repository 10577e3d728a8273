/**
 * mmap and the Mapping it returns: a memory mapping whose bytes JS reaches through
 * ArrayBuffers that are detached when it is unmapped. A Mapping that is garbage-collected
 * unmaps itself, once.
 */
import { constants as bufferConstants } from 'node:buffer';
import { readVmFlags } from '../kernel/smaps.js';
import { type NativeMapping, native } from './binding.js';
import { nonNegativeInteger, positiveInteger } from './errors.js';

const C = native.constants;

/** The kernel's page size, in bytes. */
export const pageSize: number = native.pageSize;

/** Protection: no access, read-only, or read-write. */
export type Prot = 'none' | 'r' | 'rw';

export interface MmapOptions {
  /** Default 'rw'. */
  prot?: Prot;
  /** MAP_SHARED instead of MAP_PRIVATE. Default false. */
  shared?: boolean;
  /** MAP_NORESERVE: ask the kernel not to charge the mapping to the commit. */
  noreserve?: boolean;
  /** MAP_POPULATE: fault every page in at mmap time. */
  populate?: boolean;
  /** A file descriptor to map; anonymous memory otherwise. */
  fd?: number;
  /** Offset into the file, a multiple of the page size. */
  offset?: number;
}

export interface TouchOptions {
  /** Bytes between writes; default one page. */
  stride?: number;
  /** Where to start, in bytes from the mapping's start; default 0. */
  offset?: number;
  /** How many bytes to cover; default to the end of the mapping. */
  length?: number;
}

/** madvise advice. */
export type Advice = 'normal' | 'dontneed' | 'willneed' | 'populate-read' | 'populate-write';

export interface RangeOptions {
  offset?: number;
  length?: number;
}

const PROT: Record<Prot, number> = { none: C.PROT_NONE, r: C.PROT_READ, rw: C.PROT_READ | C.PROT_WRITE };
const ADVICE: Record<Advice, number> = {
  normal: C.MADV_NORMAL,
  dontneed: C.MADV_DONTNEED,
  willneed: C.MADV_WILLNEED,
  'populate-read': C.MADV_POPULATE_READ,
  'populate-write': C.MADV_POPULATE_WRITE,
};

/** The largest ArrayBuffer Node hands out; `Mapping.buffer` beyond it is a RangeError. */
export const maxBufferLength: number = bufferConstants.MAX_LENGTH;

export function protFlags(prot: unknown): number {
  if (typeof prot !== 'string' || !Object.hasOwn(PROT, prot)) {
    throw new RangeError(`prot must be 'none', 'r' or 'rw', got ${String(prot)}`);
  }
  return PROT[prot as Prot];
}

/** mmap flags for the options: MAP_PRIVATE or MAP_SHARED, anonymous unless fd is given. */
export function mmapFlags(options: MmapOptions): number {
  let flags = options.shared ? C.MAP_SHARED : C.MAP_PRIVATE;
  if (options.fd === undefined) flags |= C.MAP_ANONYMOUS;
  if (options.noreserve) flags |= C.MAP_NORESERVE;
  if (options.populate) flags |= C.MAP_POPULATE;
  return flags;
}

export class Mapping {
  readonly #native: NativeMapping;

  /** @internal Use mmap(). */
  constructor(handle: NativeMapping) {
    this.#native = handle;
  }

  /** The start address (changes only when remap() moves the mapping). */
  get address(): bigint {
    return this.#native.address;
  }

  /** Length in bytes, as requested. */
  get length(): number {
    return this.#native.length;
  }

  /** False after unmap(). */
  get mapped(): boolean {
    return this.#native.mapped;
  }

  get prot(): Prot {
    const p = this.#native.prot;
    return p === PROT.rw ? 'rw' : p === PROT.r ? 'r' : 'none';
  }

  /** An ArrayBuffer over the whole mapping; read-write mappings only. */
  get buffer(): ArrayBuffer {
    if (this.length > maxBufferLength) {
      throw new RangeError(`the mapping (${this.length} bytes) is larger than Node's buffer limit (${maxBufferLength}); use view()`);
    }
    return this.#native.buffer(0, this.length);
  }

  /** An ArrayBuffer over [offset, offset + length); read-write mappings only. */
  view(offset: number, length: number): ArrayBuffer {
    nonNegativeInteger(offset, 'offset');
    positiveInteger(length, 'length');
    if (length > maxBufferLength) throw new RangeError(`length ${length} is larger than Node's buffer limit (${maxBufferLength})`);
    return this.#native.buffer(offset, length);
  }

  /**
   * Writes one 32-bit value every `stride` bytes, in C++ (the int index, as the documents'
   * sparse program writes arr[i] = i), and returns how many distinct pages were written.
   */
  touch(options: TouchOptions = {}): number {
    const { offset, length } = this.#range(options);
    const stride = options.stride === undefined ? pageSize : positiveInteger(options.stride, 'stride');
    return this.#native.touch(offset, length, stride);
  }

  /** How many pages of the range are resident in memory (mincore). */
  residentPages(options: RangeOptions = {}): number {
    const { offset, length } = this.#range(options);
    return this.#native.mincore(offset, length);
  }

  /** The VmFlags of the VMA that holds the mapping's start, from /proc/self/smaps (e.g. 'nr', 'ac'). */
  vmFlags(): string[] {
    this.#requireMapped('vmFlags');
    return readVmFlags(this.address);
  }

  /** mprotect. Buffers handed out are detached unless the new protection is 'rw'. */
  protect(prot: Prot): void {
    this.#native.protect(protFlags(prot));
  }

  /** mremap to a new length; the mapping may move, and every buffer handed out is detached. */
  remap(newLength: number): void {
    this.#native.remap(positiveInteger(newLength, 'newLength'));
  }

  /** madvise over a range (default: the whole mapping). */
  advise(advice: Advice, options: RangeOptions = {}): void {
    if (typeof advice !== 'string' || !Object.hasOwn(ADVICE, advice)) {
      throw new RangeError(`advice must be one of ${Object.keys(ADVICE).join(', ')}, got ${String(advice)}`);
    }
    const { offset, length } = this.#range(options);
    this.#native.advise(ADVICE[advice], offset, length);
  }

  /** munmap. Detaches every buffer first; a second call does nothing. */
  unmap(): void {
    this.#native.unmap();
  }

  #requireMapped(what: string): void {
    if (!this.mapped) {
      throw Object.assign(new Error(`${what}: the mapping has been unmapped`), { code: 'ERR_MAPPING_UNMAPPED' });
    }
  }

  #range(options: RangeOptions): { offset: number; length: number } {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    const offset = options.offset === undefined ? 0 : nonNegativeInteger(options.offset, 'offset');
    const length = options.length === undefined ? this.length - offset : positiveInteger(options.length, 'length');
    if (offset >= this.length || offset + length > this.length) {
      throw new RangeError(`offset ${offset} + length ${length} is past the end of the mapping (${this.length} bytes)`);
    }
    return { offset, length };
  }
}

/** Maps `length` bytes: anonymous private read-write memory unless the options say otherwise. */
export function mmap(length: number, options: MmapOptions = {}): Mapping {
  positiveInteger(length, 'length');
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const prot = protFlags(options.prot ?? 'rw');
  let fd = -1;
  let offset = 0;
  if (options.fd !== undefined) {
    fd = nonNegativeInteger(options.fd, 'fd');
    offset = options.offset === undefined ? 0 : nonNegativeInteger(options.offset, 'offset');
    if (offset % pageSize !== 0) throw new RangeError(`offset must be a multiple of the page size (${pageSize}), got ${offset}`);
  } else if (options.offset !== undefined) {
    throw new TypeError('offset is for file mappings: give an fd too');
  }
  return new Mapping(native.mmap(length, prot, mmapFlags(options), fd, offset));
}

/** An anonymous shmem file (memfd_create), for mapping shmfs memory; close it with fs.closeSync. */
export function memfdCreate(name: string): number {
  if (typeof name !== 'string') throw new TypeError('name must be a string');
  return native.memfdCreate(name);
}
