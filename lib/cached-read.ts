/** A positional read that takes bytes only from the kernel's page cache, as the runtime adapters offer it. */

/**
 * Reads `length` bytes at `position` of the open file `fd` into `target` at `at`, synchronously, only if
 * the kernel has all of them in memory: it never waits for the disk. Returns how many bytes it read, or -1
 * when it would have to wait (or the platform cannot tell); the caller then reads through the runtime's
 * I/O pool. A result short of `length` means only part was in memory.
 */
export type ReadIfCached = (fd: number, target: Uint8Array, at: number, length: number, position: number) => number;
