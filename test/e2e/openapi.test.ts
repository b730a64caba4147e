import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redoclyLint } from '../support/openapi-contract';
import { ContractSession } from './openapi/contract-session';
import { everyOperationContract } from './openapi/every-operation';
import { batchesContract } from './openapi/inference-batches';
import { predictionsContract } from './openapi/inference-predictions';
import { openInferenceContract } from './openapi/inference-v2';
import { managementPortContract } from './openapi/management-port';

/**
 * The OpenAPI documents both ports serve: they pass Redocly's recommended rules, and every
 * documented operation, called with valid and invalid inputs, answers as its document says.
 * One stack serves every part (see ContractSession), in this order, so that the last test can
 * tell which documented answers no part provoked.
 */
describe('OpenAPI documents', () => {
  const session = new ContractSession();

  before(() => session.start());
  after(() => session.stop());

  describe('lint', () => {
    for (const port of ['inference', 'management'] as const) {
      it(`the ${port} document has no error under Redocly's recommended rules`, () => {
        const document =
          port === 'inference' ? session.inference.document : session.management.document;
        const report = redoclyLint(document);
        const errors = report.problems.filter((p) => p.severity === 'error');
        assert.deepEqual(
          errors.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`),
          [],
        );
        assert.equal(report.totals.errors, 0);
      });
    }
  });

  describe('contract: the management port', () => managementPortContract(session));

  describe('contract: the inference port', () => {
    predictionsContract(session);
    batchesContract(session);
    openInferenceContract(session);
  });

  describe('contract: every operation', () => everyOperationContract(session));

  it('called every documented operation, with a success and an error', (t) => {
    for (const contract of [session.inference, session.management]) {
      for (const [id, { operation }] of contract.operations()) {
        const documented = Object.keys(operation.responses);
        const checked = documented.filter((s) => contract.seen.has(`${id} ${s}`));
        assert.ok(
          checked.some((s) => s.startsWith('2')),
          `${id}: no success checked`,
        );
        // Every operation behind a key can fail; the health checks may not, here.
        if (operation.responses['401']) {
          assert.ok(
            checked.some((s) => /^[45]/.test(s)),
            `${id}: no error checked`,
          );
        }
        const unchecked = documented.filter((s) => !checked.includes(s));
        if (unchecked.length) t.diagnostic(`${id}: not provoked here: ${unchecked.join(', ')}`);
      }
    }
  });
});
