/**
 * The time argument for fs.utimes and its kin. They take a negative number as "now" (a Date
 * keeps it: archives may hold mtimes before 1970, and GNU tar restores them), and libuv
 * truncates seconds to whole microseconds: half of one added makes that the nearest.
 */
export const utime = (seconds: number): number | Date => (seconds < 0 ? new Date(seconds * 1000) : seconds + 5e-7);

/** The mtimes a filesystem can hold (the kernel's time64 range, and a Date's): beyond that, a damaged header. */
export const MTIME_LIMIT = 8.64e12;
