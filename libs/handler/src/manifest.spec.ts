import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeIssues, manifestSchema } from './manifest';

const plain = { name: 'news', version: '1', model_file: 'model.onnx', vocab_file: 'vocab.txt' };
const optimized = {
  optimizer: 'onnxruntime.transformers.optimizer',
  version: '1.30.0',
  model_type: 'bert',
  fused_operators: { Attention: 2, SkipLayerNormalization: 4 },
};

/** The problems zod finds in `plain` with `graph_optimization` set to `value`, as the loader words them. */
function problems(value: unknown): string {
  const parsed = manifestSchema.safeParse({ ...plain, graph_optimization: value });
  assert.ok(!parsed.success, 'the manifest was accepted');
  return describeIssues(parsed.error);
}

describe('manifest graph_optimization', () => {
  it('is absent from a plain export and kept as written for an optimized graph', () => {
    assert.equal(manifestSchema.parse(plain).graph_optimization, undefined);
    const parsed = manifestSchema.parse({ ...plain, graph_optimization: optimized });
    assert.deepEqual(parsed.graph_optimization, optimized);
  });

  it('rejects a count that is not a positive integer, naming the operator', () => {
    const fused_operators = { Attention: 0 };
    assert.match(
      problems({ ...optimized, fused_operators }),
      /^graph_optimization\.fused_operators\.Attention: /,
    );
  });

  it('rejects a field it does not know and a missing one, naming each', () => {
    const { model_type: _dropped, ...partial } = optimized;
    assert.match(problems({ ...partial, level: 99 }), /graph_optimization\.model_type: /);
    assert.match(problems({ ...partial, level: 99 }), /graph_optimization: .*"level"/);
  });
});
