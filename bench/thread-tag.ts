/**
 * Preloaded (`--require`) into the stack's processes by the benchmarks: every `worker_threads`
 * thread writes one JSON line to stderr as it starts, with its OS thread id and the threads the
 * process already had, so that `/proc/<pid>/task` can be read per role (Node 20 names every
 * thread of a process `node`): the worker's inference thread, the threads Node started before it
 * (V8 platform, libuv pool), and those started after it (ORT's intra-op pool, the tokenizer's).
 */
import { readdirSync, readlinkSync, stat, writeSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';

/** The `msg` of the line. */
export const THREAD_STARTED = 'bench: worker thread started';

if (!isMainThread) {
  // The first asynchronous fs call starts libuv's pool (all of it, before it returns), so that
  // no pool thread starting later passes for one of the inference thread's.
  stat(__filename, () => undefined);
  // A synchronous read runs on the calling thread: /proc/thread-self is this one.
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  const earlier = readdirSync('/proc/self/task')
    .map(Number)
    .filter((t) => t !== tid && t !== process.pid);
  writeSync(2, `${JSON.stringify({ msg: THREAD_STARTED, tid, threadId, earlier })}\n`);
}
