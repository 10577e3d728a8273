/**
 * mmap and the Mapping it returns: a memory mapping whose bytes JS reaches through
 * ArrayBuffers. A Mapping that is garbage-collected unmaps itself, once.
 *
 * Memory handed out stays valid for whoever still holds it. Native work may hold a buffer's
 * pointer across the event loop (crypto.randomFill, fs.read into a view, zlib), and would fault,
 * or write into whatever is mapped there next, if the range went back to the kernel. So
 * unmap(), remap() and protect() to less than 'rw' never give the range of a live buffer back:
 * they replace it in place with fresh, never-touched placeholder memory (MAP_NORESERVE, so
 * uncharged, except in mode 2, where the kernel ignores NORESERVE), unmapped once the last
 * buffer over it is garbage-collected. A stale buffer keeps its length: it reads zeros, and what
 * is written there is seen by nobody, never by another mapping; no segfault. Buffers are not
 * detached: Node's own work does not expect a buffer it holds to shrink (zlib aborts the
 * process when its input is detached between chunks).
 */
import { constants as bufferConstants } from 'node:buffer';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { readVmFlags } from '../kernel/smaps.js';
import { type NativeMapping, native } from './binding.js';
import { mappingError } from './errors.js';
import { argRangeError, argTypeError, nonNegativeInteger, oneOf, optionalBoolean, optionsObject, positiveInteger } from './validate.js';

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

/**
 * madvise advice: only advice that changes how the kernel treats the pages, never whether they
 * stay mapped and accessible (the addon refuses any other advice number, e.g. MADV_REMOVE,
 * MADV_HWPOISON or MADV_GUARD_INSTALL, with a RangeError).
 */
export type Advice =
  | 'normal'
  | 'random'
  | 'sequential'
  | 'dontneed'
  | 'willneed'
  | 'free'
  | 'hugepage'
  | 'nohugepage'
  | 'cold'
  | 'pageout'
  | 'populate-read'
  | 'populate-write';

export interface RangeOptions {
  offset?: number;
  length?: number;
}

export interface ResidentPagesOptions extends RangeOptions {
  /** Stops the scan: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Bytes residentPagesAsync asks mincore about before it yields to the event loop. */
const RESIDENT_SLICE_BYTES = 2 ** 20 * pageSize;

const PROT: Record<Prot, number> = { none: C.PROT_NONE, r: C.PROT_READ, rw: C.PROT_READ | C.PROT_WRITE };
const ADVICE: Record<Advice, number> = {
  normal: C.MADV_NORMAL,
  random: C.MADV_RANDOM,
  sequential: C.MADV_SEQUENTIAL,
  dontneed: C.MADV_DONTNEED,
  willneed: C.MADV_WILLNEED,
  free: C.MADV_FREE,
  hugepage: C.MADV_HUGEPAGE,
  nohugepage: C.MADV_NOHUGEPAGE,
  cold: C.MADV_COLD,
  pageout: C.MADV_PAGEOUT,
  'populate-read': C.MADV_POPULATE_READ,
  'populate-write': C.MADV_POPULATE_WRITE,
};

/**
 * The largest ArrayBuffer a Mapping hands out: Node's limit, and at most Node 20's (the addon
 * checks that one itself); `Mapping.buffer` or `view()` beyond it is a RangeError.
 */
export const maxBufferLength: number = Math.min(bufferConstants.MAX_LENGTH, native.maxBufferLength);

export function protFlags(prot: unknown, name = 'prot'): number {
  return PROT[oneOf(prot, Object.keys(PROT) as Prot[], name)];
}

/** mmap's arguments for `options`, checked as mmap() checks them (runChild's mmap step too). */
export function mmapArguments(
  options: MmapOptions | undefined,
  name = 'options',
): { prot: number; flags: number; fd: number; offset: number } {
  const o = optionsObject(options, name);
  const prot = protFlags(o.prot ?? 'rw', `${name}.prot`);
  let flags = optionalBoolean(o.shared, `${name}.shared`) ? C.MAP_SHARED : C.MAP_PRIVATE;
  if (optionalBoolean(o.noreserve, `${name}.noreserve`)) flags |= C.MAP_NORESERVE;
  if (optionalBoolean(o.populate, `${name}.populate`)) flags |= C.MAP_POPULATE;
  if (o.fd === undefined) {
    if (o.offset !== undefined) throw argTypeError(`${name}.offset is for file mappings: give an fd too`);
    return { prot, flags: flags | C.MAP_ANONYMOUS, fd: -1, offset: 0 };
  }
  const fd = nonNegativeInteger(o.fd, `${name}.fd`);
  const offset = o.offset === undefined ? 0 : nonNegativeInteger(o.offset, `${name}.offset`);
  if (offset % pageSize !== 0) throw argRangeError(`${name}.offset must be a multiple of the page size (${pageSize}), got ${offset}`);
  return { prot, flags, fd, offset };
}

export class Mapping {
  readonly #native: NativeMapping;

  /** @internal Use mmap(). */
  constructor(handle: NativeMapping) {
    this.#native = handle;
  }

  /**
   * The start address. It changes when remap() moves the mapping, and when protect() to 'r' or
   * 'none' moves it away from buffers handed out at the old address.
   */
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

  /**
   * An ArrayBuffer over the whole mapping; read-write mappings only, at most maxBufferLength
   * bytes (RangeError). Each call hands out a new one, in O(1). The memory under it stays
   * valid while the ArrayBuffer lives; after unmap(), remap() or protect() to less than 'rw' it
   * is placeholder memory, no longer the mapping's.
   * Over a file mapping, the file's part must not be truncated while a buffer is in use: a read
   * past the file's end raises SIGBUS, which no JS check can catch (touch() checks; buffers
   * over a range already past the end are refused with ERR_MAPPING_PAST_END_OF_FILE).
   */
  get buffer(): ArrayBuffer {
    if (this.length > maxBufferLength) {
      throw argRangeError(`the mapping (${this.length} bytes) is larger than Node's buffer limit (${maxBufferLength}); use view()`);
    }
    return this.#native.buffer(0, this.length);
  }

  /** An ArrayBuffer over [offset, offset + length); as `buffer`. */
  view(offset: number, length: number): ArrayBuffer {
    nonNegativeInteger(offset, 'offset');
    positiveInteger(length, 'length');
    if (length > maxBufferLength) throw argRangeError(`length ${length} is larger than Node's buffer limit (${maxBufferLength})`);
    return this.#native.buffer(offset, length);
  }

  /**
   * Writes one 32-bit value every `stride` bytes, in C++ (the int index, as the documents'
   * sparse program writes arr[i] = i), and returns how many distinct pages were written (a
   * value straddling two pages writes both, as mincore then says). Over a file mapping whose
   * file was truncated under the range: ERR_MAPPING_PAST_END_OF_FILE, not SIGBUS.
   */
  touch(options: TouchOptions = {}): number {
    const { offset, length } = this.#range(options);
    const stride = options?.stride === undefined ? pageSize : positiveInteger(options.stride, 'stride');
    return this.#native.touch(offset, length, stride);
  }

  /**
   * How many pages of the range are resident in memory (mincore). Synchronous: mincore says one
   * byte per page, so over terabytes of address space it blocks for seconds; use
   * residentPagesAsync() there.
   */
  residentPages(options: RangeOptions = {}): number {
    const { offset, length } = this.#range(options);
    return this.#native.mincore(offset, length);
  }

  /**
   * residentPages() in slices of 2^20 pages, yielding to the event loop between them, so a
   * scan of a huge NORESERVE mapping never blocks the loop. Rejects with ERR_MAPPING_UNMAPPED
   * or ERR_MAPPING_MOVED if the mapping is unmapped, or moved or resized, meanwhile.
   */
  async residentPagesAsync(options: ResidentPagesOptions = {}): Promise<number> {
    const { offset, length } = this.#range(options);
    const { signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw argTypeError('signal must be an AbortSignal');
    const address = this.address;
    const size = this.length;
    const end = offset + length;
    let resident = 0;
    for (let at = Math.floor(offset / pageSize) * pageSize; at < end; at += RESIDENT_SLICE_BYTES) {
      signal?.throwIfAborted();
      if (this.mapped && (this.address !== address || this.length !== size)) {
        throw mappingError(
          'ERR_MAPPING_MOVED',
          `residentPagesAsync: the mapping at 0x${address.toString(16)} was moved or resized during the scan`,
        );
      }
      resident += this.#native.mincore(at, Math.min(RESIDENT_SLICE_BYTES, end - at));
      if (at + RESIDENT_SLICE_BYTES < end) await yieldToLoop();
    }
    return resident;
  }

  /** The VmFlags of the VMA that holds the mapping's start, from /proc/self/smaps (e.g. 'nr', 'ac'). */
  vmFlags(): string[] {
    this.#requireMapped('vmFlags');
    return readVmFlags(this.address);
  }

  /**
   * mprotect. To 'rw': in place. To 'r' or 'none': in place, unless buffers were handed out at
   * the current address: then the mapping first moves to a new address (its pages with it;
   * `address` changes; MREMAP_DONTUNMAP where the kernel has it), and the buffers' range
   * becomes readable and writable placeholder memory. So JS or work still reading or writing
   * through a buffer (zlib, fs, crypto) never faults: it sees zeros, or writes where nobody
   * looks. No buffer is handed out while the mapping is not 'rw' (ERR_MAPPING_PROTECTION). If
   * the move succeeds but mprotect fails, the mapping has moved, its protection unchanged.
   */
  protect(prot: Prot): void {
    this.#native.protect(protFlags(prot));
  }

  /**
   * mremap to a new length; the mapping may move. If buffers were handed out at the current
   * address, it always moves (MREMAP_DONTUNMAP where the kernel has it), and their range
   * becomes placeholder memory, as with unmap(). If the move succeeds but the resize fails, the
   * mapping has moved, its length unchanged.
   */
  remap(newLength: number): void {
    this.#native.remap(positiveInteger(newLength, 'newLength'));
  }

  /** madvise over a range (default: the whole mapping). */
  advise(advice: Advice, options: RangeOptions = {}): void {
    oneOf(advice, Object.keys(ADVICE) as Advice[], 'advice');
    const { offset, length } = this.#range(options);
    this.#native.advise(ADVICE[advice], offset, length);
  }

  /**
   * munmap; a second call does nothing. The range of buffers that may still be in use (not yet
   * garbage-collected) becomes placeholder memory until they are.
   */
  unmap(): void {
    this.#native.unmap();
  }

  #requireMapped(what: string): void {
    if (!this.mapped) throw mappingError('ERR_MAPPING_UNMAPPED', `${what}: the mapping has been unmapped`);
  }

  #range(options: RangeOptions | undefined): { offset: number; length: number } {
    const o = optionsObject(options);
    const offset = o.offset === undefined ? 0 : nonNegativeInteger(o.offset, 'offset');
    const length = o.length === undefined ? this.length - offset : positiveInteger(o.length, 'length');
    if (offset >= this.length || offset + length > this.length) {
      throw argRangeError(`offset ${offset} + length ${length} is past the end of the mapping (${this.length} bytes)`);
    }
    return { offset, length };
  }
}

/** Maps `length` bytes: anonymous private read-write memory unless the options say otherwise. */
export function mmap(length: number, options?: MmapOptions): Mapping {
  positiveInteger(length, 'length');
  const { prot, flags, fd, offset } = mmapArguments(options);
  return new Mapping(native.mmap(length, prot, flags, fd, offset));
}

/**
 * An anonymous shmem file (memfd_create), for mapping shmfs memory; close it with fs.closeSync.
 * A name with a NUL character is a TypeError (the kernel would cut it there).
 */
export function memfdCreate(name: string): number {
  if (typeof name !== 'string') throw argTypeError('name must be a string');
  if (name.includes('\0')) throw argTypeError('name must not contain NUL characters');
  return native.memfdCreate(name);
}
