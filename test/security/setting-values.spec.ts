import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import { apiSettings } from '../../apps/api/src/config';
import { serveSettings } from '../../apps/cli/src/serve/serve-command';
import { workerSettings } from '../../apps/worker/src/config';
import { ConfigError, parseEnv } from '../../libs/common/src/config';

const SCHEMAS: [string, z.ZodObject][] = [
  ['api', apiSettings],
  ['worker', workerSettings],
  ['serve', serveSettings],
];

/** Values that are not a whole decimal number, each of which a coercion read as one. */
const NOT_DECIMAL = [' ', '\t', '0x2', '0b1', '1e1', '1.0'];

/** The whole-number settings of a schema, with their defaults. */
function numberSettings(schema: z.ZodObject): [string, number][] {
  const defaults: Record<string, unknown> = parseEnv(schema, {});
  return Object.entries(defaults).filter((e): e is [string, number] => typeof e[1] === 'number');
}

describe('a number setting is decimal digits or refused, never read as another number', () => {
  for (const [app, schema] of SCHEMAS) {
    const settings = numberSettings(schema);

    it(`${app}: every number setting given as a blank, hex, binary or exponent is refused by name`, () => {
      assert.ok(settings.length > 5, `${app} has number settings`);
      for (const [key] of settings) {
        for (const value of NOT_DECIMAL) {
          assert.throws(
            () => parseEnv(schema, { [key]: value }),
            (error: Error) => error instanceof ConfigError && error.message.includes(key),
            `${app} ${key}=${JSON.stringify(value)} must be refused`,
          );
        }
      }
    });

    it(`${app} (control): the same settings written in digits are read as written`, () => {
      for (const [key, fallback] of settings) {
        const read: Record<string, unknown> = parseEnv(schema, { [key]: ` ${fallback} ` });
        assert.equal(read[key], fallback, `${app} ${key}`);
      }
    });
  }

  it('REDIS_ACK_REPLICAS=" " does not turn acknowledgement off; "2" asks for 2 replicas', () => {
    assert.throws(() => parseEnv(apiSettings, { REDIS_ACK_REPLICAS: ' ' }), /REDIS_ACK_REPLICAS/);
    assert.equal(parseEnv(apiSettings, { REDIS_ACK_REPLICAS: '2' }).REDIS_ACK_REPLICAS, 2);
  });
});
