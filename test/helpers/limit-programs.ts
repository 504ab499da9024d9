import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

// Static programs for the limits' tests (BusyBox has no allocator and no fork counter), built
// here with gcc -static: they run in any rootfs, under any runtime.
//
//   alloc MB     touches MB megabytes page by page, printing "alloc N" at each 8 MB and
//                "alloc done" at the end (an OOM kill stops it in between)
//   forker       forks children that wait, until fork fails; prints "forked N errno NAME",
//                then kills them and waits

const ALLOC = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void say(const char *s) { if (write(1, s, strlen(s)) < 0) _exit(3); }
int main(int argc, char **argv) {
  long mb = argc > 1 ? atol(argv[1]) : 64;
  char line[64];
  for (long i = 1; i <= mb; i++) {
    char *p = malloc(1 << 20);
    if (!p) { say("alloc malloc failed\\n"); return 2; }
    for (long j = 0; j < (1 << 20); j += 4096) p[j] = 1;
    if (i % 8 == 0) { snprintf(line, sizeof line, "alloc %ld\\n", i); say(line); }
  }
  say("alloc done\\n");
  return 0;
}
`;

const FORKER = `#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
  pid_t kids[100000];
  int n = 0, err = 0;
  while (n < 100000) {
    pid_t p = fork();
    if (p < 0) { err = errno; break; }
    if (p == 0) { pause(); _exit(0); }
    kids[n++] = p;
  }
  printf("forked %d errno %s\\n", n, err == EAGAIN ? "EAGAIN" : strerror(err));
  fflush(stdout);
  for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
  while (wait(NULL) > 0) {}
  return 0;
}
`;

export interface LimitPrograms {
  alloc: Buffer;
  forker: Buffer;
}

export async function limitPrograms(dir: string): Promise<LimitPrograms> {
  const build = async (name: string, src: string) => {
    const c = path.join(dir, `${name}.c`);
    fs.writeFileSync(c, src);
    await execa('gcc', ['-static', '-O1', '-o', path.join(dir, name), c]);
    return fs.readFileSync(path.join(dir, name));
  };
  return { alloc: await build('alloc', ALLOC), forker: await build('forker', FORKER) };
}
