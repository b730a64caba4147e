import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Answer, OpenApiContract } from '../../support/openapi-contract';
import { MANAGEMENT_TOKEN } from '../../support/stack';
import { API_KEY, MODEL, type ContractSession } from './contract-session';

/** Every operation of both documents, without credentials and while Redis is away. */
export function everyOperationContract(session: ContractSession): void {
  const { send } = session;
  /** Values for path parameters, and valid bodies of the operations that take one. */
  const PARAMS: Record<string, string> = {
    model: MODEL,
    name: MODEL,
    version: '1',
    id: 'nothing',
  };
  const BODIES: Record<string, unknown> = {
    predict: { data: ['x'] },
    putPredict: { data: ['x'] },
    predictVersion: { data: ['x'] },
    putPredictVersion: { data: ['x'] },
    createPrediction: { model: MODEL, input: { data: ['x'] } },
    createBatch: { model: MODEL, path: 'news.csv', text: 'title' },
    setTraffic: { '1': 1 },
    setShadow: { version: '2', fraction: 0.5 },
    v2Infer: { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['x'] }] },
    v2InferVersion: { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['x'] }] },
  };

  /** Calls every operation of a document, as `request` says, and checks each answer. */
  async function callEach(
    contract: OpenApiContract,
    base: string,
    headers: Record<string, string>,
    expect: (id: string, answer: Answer) => void,
  ) {
    for (const [id, { method, path: template }] of contract.operations()) {
      const path = template.replace(/\{(\w+)\}/g, (_, name: string) => PARAMS[name]);
      const body = BODIES[id] === undefined ? undefined : JSON.stringify(BODIES[id]);
      const answer = await send(base, method, path, {
        headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
        body,
        name: id,
      });
      contract.assertAnswer(method, template, answer);
      expect(id, answer);
    }
  }

  it('refuses every operation behind a key or token without it', async () => {
    for (const [contract, base] of [
      [session.inference, session.stack.apiUrl],
      [session.management, session.stack.managementUrl],
    ] as const) {
      await callEach(contract, base, {}, (id, answer) => {
        const operation = [...contract.operations().values()].find(
          (o) => o.operation.operationId === id,
        )!.operation;
        if (operation.responses['401']) assert.equal(answer.status, 401, id);
      });
    }
  });

  it('answers as documented while Redis is away: 503 problems with Retry-After', async () => {
    session.redisStopped = true;
    await session.stack.redis.stop();
    const unavailable: string[] = [];
    const check = (id: string, answer: Answer) => {
      if (answer.status !== 503) return;
      unavailable.push(id);
      assert.match(answer.headers.get('retry-after') ?? '', /^\d+$/, id);
    };
    await callEach(
      session.inference,
      session.stack.apiUrl,
      { authorization: `Bearer ${API_KEY}` },
      check,
    );
    const token = { authorization: `Bearer ${MANAGEMENT_TOKEN}` };
    await callEach(session.management, session.stack.managementUrl, token, check);
    assert.ok(unavailable.includes('getBatch'), unavailable.join(', '));
    assert.ok(unavailable.includes('listModels'), unavailable.join(', '));
  });
}
