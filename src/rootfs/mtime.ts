/**
 * fs.utimes and its kin take a negative number as "now"; a Date keeps it. Archives may hold
 * mtimes before 1970, and GNU tar restores them.
 */
export const utime = (seconds: number): number | Date => (seconds < 0 ? new Date(seconds * 1000) : seconds);
