import fs from 'node:fs';

/** thunderbox's own version, from package.json (it goes into generated headers and stamps). */
export const VERSION: string = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
