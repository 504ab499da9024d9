// lxc.mount.entry = <source> <target> <fstype> <options> <dump> <pass>, fstab(5) syntax:
// fields are split on blanks, so a space, tab, newline or backslash inside a path is
// written as an octal escape (\040, \011, \012, \134), which liblxc decodes like getmntent.

export function fstabEscape(p: string): string {
  return p.replace(/[\\ \t\n]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));
}

export function fstabUnescape(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The fields of an lxc.mount.entry value, still escaped (source, target, type, options, ...). */
export function mountFields(v: string): string[] {
  return v.trim().split(/[ \t]+/);
}

export interface BindEntry {
  source: string;
  /** Relative to the rootfs, no leading '/'. */
  target: string;
  options: string[];
}

export function formatMountEntry(e: BindEntry): string {
  return `${fstabEscape(e.source)} ${fstabEscape(e.target)} none ${e.options.join(',')} 0 0`;
}
