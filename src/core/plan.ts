import type { Diagnostic } from './diagnostic.js';

// A plan is the complete list of what a command will change under one root, with reasons.
// It is computed first (pure domain logic) and then either printed (--dry-run) or applied
// as one transaction by core/transaction.ts.

export interface BuildContext {
  /** Aborted on SIGINT/SIGTERM: long builders check it between chunks. */
  signal: AbortSignal;
}

/** A directory built whole in a staging directory and swapped into place. */
export interface TreeOp {
  kind: 'tree';
  path: string;
  reason: string;
  /** Human-readable lines describing what the tree will hold. */
  detail: string[];
  build: (stageDir: string, ctx: BuildContext) => Promise<void>;
}

/** A text file created or replaced; `before` is what planning saw (null: absent). */
export interface FileOp {
  kind: 'file';
  path: string;
  reason: string;
  before: string | null;
  after: string;
  mode: number;
  /** Owner to keep (a replaced file keeps its owner; applied when running as root). */
  uid?: number;
  gid?: number;
  mtime?: number;
}

/** A directory made (if missing) or given a mode and owner; it is never replaced. */
export interface DirOp {
  kind: 'dir';
  path: string;
  reason: string;
  mode: number;
  /** Owner to set (applied when running as root). */
  uid: number;
  gid: number;
}

/** Something looked at and found already right. */
export interface KeepOp {
  kind: 'keep';
  path: string;
  reason: string;
}

export type Op = TreeOp | FileOp | DirOp | KeepOp;

export interface Plan {
  /** Every op path lies under this root; the lock and journal live here. */
  root: string;
  ops: Op[];
  diagnostics: Diagnostic[];
  /** mtime for directories the transaction has to create (SOURCE_DATE_EPOCH). */
  dirMtime?: number;
}

export function changes(plan: Plan): (TreeOp | FileOp | DirOp)[] {
  return plan.ops.filter((op): op is TreeOp | FileOp | DirOp => op.kind !== 'keep');
}
