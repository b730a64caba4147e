import { realpathSync } from 'node:fs';
import { parse, resolve, sep } from 'node:path';

/**
 * A message with the model store's absolute path taken out: a path inside the store is written
 * relative to it (as the management API names packages), the store itself as `MODEL_STORE`.
 * For what leaves a process towards management callers (problem details, load failures in the
 * registry): holding the management token does not tell where the store lies on its host. Both
 * spellings of the store are replaced, as configured and with symlinks resolved, since messages
 * of other libraries (a file system error, ONNX Runtime's "Load model from ...") carry either.
 */
export function relativeToStore(message: string, store: string): string {
  const roots = new Set([resolve(store)]);
  try {
    roots.add(realpathSync(store));
  } catch {
    // A store that does not exist has no other spelling.
  }
  let relative = message;
  // The longer spelling first: one may contain the other.
  for (const root of [...roots].sort((a, b) => b.length - a.length)) {
    if (parse(root).root === root) continue;
    // The store's path as a whole, not part of a longer one (`/srv/models-old`, `/x/srv/models`).
    const whole = new RegExp(`(?<![\\w./-])${escape(root)}(${escape(sep)}|(?![\\w.-]))`, 'g');
    relative = relative.replace(whole, (_, slash: string) => (slash ? '' : 'MODEL_STORE'));
  }
  return relative;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
