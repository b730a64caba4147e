import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  decodeResponse,
  encodeRequest,
  encodeTensorData,
  infer,
  postInfer,
  type ClientInput,
  type ClientOutput,
  type ClientRequest,
  type ClientTensor,
  type RawAnswer,
} from '../support/binary-tensor-client';
import { Stack } from '../support/stack';
import { agNewsSample } from '../support/texts';

/**
 * Triton's binary tensor data extension on `/v2/models/{name}[/versions/{v}]/infer`, checked with
 * a client written from the extension's document (test/support/binary-tensor-client.ts): every
 * combination of binary inputs and binary outputs answers what the JSON form answers.
 */

const MODEL = 'ag-news-bert';
const MAX_BODY_BYTES = 65_536;
/** AG News texts and one of multi-byte UTF-8 (accents, an emoji: 4 bytes). */
const TEXTS = [
  ...agNewsSample(3),
  'Café owners in Zürich cheer the 🚀 launch of a new stock index',
];
const ALL_OUTPUTS = ['label', 'label_name', 'probability', 'probabilities'];

const routes = (stack: Stack) => [
  `${stack.apiUrl}/v2/models/${MODEL}/infer`,
  `${stack.apiUrl}/v2/models/${MODEL}/versions/1/infer`,
];

const textInput = (binary: boolean, texts = TEXTS, shape = [texts.length]): ClientInput => ({
  name: 'text',
  datatype: 'BYTES',
  shape,
  data: texts,
  binary,
});

/** How a request asks for its outputs: which it names, and which should come back in binary. */
interface OutputMode {
  title: string;
  outputs?: ClientOutput[];
  parameters?: Record<string, boolean>;
  /** The outputs the document says are answered in binary. */
  binary: string[];
}

const OUTPUT_MODES: OutputMode[] = [
  { title: 'no binary outputs (default outputs)', binary: [] },
  {
    title: 'no binary outputs (all named, binary_data false)',
    outputs: ALL_OUTPUTS.map((name) => ({ name, binary: false })),
    binary: [],
  },
  {
    title: 'all binary via binary_data_output, no outputs named (tritonclient default)',
    parameters: { binary_data_output: true },
    binary: ['label', 'label_name', 'probability'],
  },
  {
    title: 'all binary via binary_data_output, all named',
    outputs: ALL_OUTPUTS.map((name) => ({ name })),
    parameters: { binary_data_output: true },
    binary: ALL_OUTPUTS,
  },
  {
    title: 'all binary via per-output binary_data (tritonclient with outputs)',
    outputs: ALL_OUTPUTS.map((name) => ({ name, binary: true })),
    binary: ALL_OUTPUTS,
  },
  {
    title: 'some binary via per-output binary_data',
    outputs: [
      { name: 'label', binary: true },
      { name: 'label_name' },
      { name: 'probabilities', binary: true },
    ],
    binary: ['label', 'probabilities'],
  },
  {
    title: 'binary_data_output overridden by one output binary_data false',
    outputs: ALL_OUTPUTS.map((name) =>
      name === 'label_name' ? { name, binary: false } : { name },
    ),
    parameters: { binary_data_output: true },
    binary: ['label', 'probability', 'probabilities'],
  },
];

/** Elements comparable with JSON's: INT64 as numbers. */
const plain = (data: unknown[]) => data.map((x) => (typeof x === 'bigint' ? Number(x) : x));

/**
 * Asserts the outputs of a binary answer are those of the JSON answer: same names, datatypes,
 * shapes, INT64 and BYTES equal; FP32 as 4-byte floats (exactly representable) within 1e-5 of
 * the JSON's (the same texts may be batched apart, with other padding).
 */
function assertSameOutputs(actual: ClientTensor[], expected: ClientTensor[], binary: Set<string>) {
  assert.deepEqual(
    actual.map((o) => [o.name, o.datatype, o.shape]),
    expected.map((o) => [o.name, o.datatype, o.shape]),
  );
  for (const [i, output] of actual.entries()) {
    const want = expected[i].data as number[];
    const got = plain(output.data);
    if (output.datatype !== 'FP32') {
      assert.deepEqual(got, want, output.name);
      continue;
    }
    assert.equal(got.length, want.length, output.name);
    got.forEach((value, j) => {
      assert.equal(typeof value, 'number', `${output.name}[${j}]`);
      if (binary.has(output.name)) assert.equal(Math.fround(value as number), value);
      assert.ok(
        Math.abs((value as number) - want[j]) < 1e-5,
        `${output.name}[${j}]: ${String(value)}`,
      );
    });
  }
}

/** Asserts an answer is a 400 in the protocol's error shape, its message matching `pattern`. */
function assertProtocolError(answer: RawAnswer, status: number, pattern: RegExp) {
  const text = answer.body.toString('utf8');
  assert.equal(answer.status, status, text);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as { error: string };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.match(body.error, pattern);
}

describe('Open Inference Protocol: binary tensor data extension (REST)', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({ env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES) } });
  });
  after(() => stack?.stop());

  it('server metadata lists binary_tensor_data among its extensions', async () => {
    const { status, body } = await stack.request('GET', '/v2');
    assert.equal(status, 200);
    assert.ok(body.extensions.includes('binary_tensor_data'), JSON.stringify(body));
  });

  for (const binaryInput of [false, true]) {
    for (const [m, mode] of OUTPUT_MODES.entries()) {
      it(`inputs ${binaryInput ? 'binary' : 'JSON'}, ${mode.title}: the JSON form's answers`, async () => {
        const url = routes(stack)[m % 2];
        const json = await infer(url, {
          inputs: [textInput(false)],
          outputs: mode.outputs?.map(({ name }) => ({ name })),
        });
        assert.equal(json.binary.size, 0, 'the JSON form is answered in JSON');
        assert.equal(json.headers.get('inference-header-content-length'), null);

        const request: ClientRequest = {
          id: `combo-${m}`,
          inputs: [textInput(binaryInput)],
          outputs: mode.outputs,
          parameters: mode.parameters,
        };
        const answer = await infer(url, request);
        assert.deepEqual([...answer.binary].sort(), [...mode.binary].sort());
        assert.equal(answer.json.id, `combo-${m}`);
        assert.equal(answer.json.model_name, MODEL);
        assert.equal(answer.json.model_version, '1');
        if (mode.binary.length) {
          assert.equal(answer.headers.get('content-type'), 'application/octet-stream');
          assert.ok(answer.headers.get('inference-header-content-length'));
        } else {
          assert.equal(answer.headers.get('inference-header-content-length'), null);
          assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
        }
        assertSameOutputs(answer.outputs, json.outputs, answer.binary);
      });
    }
  }

  it('a binary input is read whatever the Content-Type: none, octet-stream, JSON; gzip too', async () => {
    const [url] = routes(stack);
    const reference = await infer(url, { inputs: [textInput(false)] });
    const request = { inputs: [textInput(true)], parameters: { binary_data_output: true } };
    for (const type of [undefined, 'application/octet-stream', 'application/json']) {
      const answer = await infer(url, request, type ? { 'content-type': type } : {});
      assertSameOutputs(answer.outputs, reference.outputs, answer.binary);
    }
    const { body, headers } = encodeRequest(request);
    const zipped = await postInfer(url, gzipSync(body), { ...headers, 'content-encoding': 'gzip' });
    assert.equal(zipped.status, 200, zipped.body.toString());
    const answer = decodeResponse(
      zipped.body,
      zipped.headers.get('inference-header-content-length'),
    );
    assertSameOutputs(answer.outputs, reference.outputs, answer.binary);
  });

  it('a binary input of shape [2, 2] holds its four texts row-major', async () => {
    const [url] = routes(stack);
    const flat = await infer(url, { inputs: [textInput(false)] });
    const square = await infer(url, { inputs: [textInput(true, TEXTS, [2, 2])] });
    assertSameOutputs(square.outputs, flat.outputs, square.binary);
  });

  describe('bad binary requests: a 400 in the protocol error shape, the server unharmed', () => {
    /** The valid request every bad one is made from, and its parts. */
    const good = () => encodeRequest({ inputs: [textInput(true)] });
    const json = (body: Buffer, headers: Record<string, string>) =>
      JSON.parse(body.subarray(0, Number(headers['inference-header-content-length'])).toString());
    /** A body of this JSON header and binary data, with a correct header length. */
    const assemble = (header: unknown, binary: Buffer, length?: string) => {
      const head = Buffer.from(JSON.stringify(header));
      return {
        body: Buffer.concat([head, binary]),
        headers: { 'inference-header-content-length': length ?? String(head.length) },
      };
    };
    const binaryOf = () => encodeTensorData('BYTES', TEXTS);
    const withSize = (size: unknown) => ({
      inputs: [
        {
          name: 'text',
          datatype: 'BYTES',
          shape: [TEXTS.length],
          parameters: { binary_data_size: size },
        },
      ],
    });

    const cases: {
      title: string;
      make: () => { body: Buffer; headers: Record<string, string> };
      error: RegExp;
    }[] = [
      {
        title: 'Inference-Header-Content-Length beyond the body',
        make: () => {
          const { body } = good();
          return { body, headers: { 'inference-header-content-length': String(body.length + 1) } };
        },
        error: /Inference-Header-Content-Length is \d+ but the body holds only \d+ byte/,
      },
      {
        title: 'Inference-Header-Content-Length not a number',
        make: () => ({ ...good(), headers: { 'inference-header-content-length': '-12' } }),
        error: /Inference-Header-Content-Length must be the JSON header's length/,
      },
      {
        title: 'Inference-Header-Content-Length cutting the JSON short',
        make: () => {
          const { body, headers } = good();
          const length = Number(headers['inference-header-content-length']) - 1;
          return { body, headers: { 'inference-header-content-length': String(length) } };
        },
        error: /JSON/,
      },
      {
        title: 'binary data without Inference-Header-Content-Length',
        make: () => ({ body: good().body, headers: {} }),
        error: /needs an Inference-Header-Content-Length header/,
      },
      {
        title: 'binary_data_size smaller than the binary data',
        make: () => {
          const binary = binaryOf();
          return assemble(withSize(binary.length - 1), binary);
        },
        error: /add up to \d+ byte\(s\), but \d+ byte\(s\) of binary data follow/,
      },
      {
        title: 'binary_data_size larger than the binary data',
        make: () => {
          const binary = binaryOf();
          return assemble(withSize(binary.length + 1), binary);
        },
        error: /add up to \d+ byte\(s\), but \d+ byte\(s\) of binary data follow/,
      },
      {
        title: 'binary_data_size on an input of a body that is all JSON',
        make: () => ({
          body: assemble(withSize(8), Buffer.alloc(0)).body,
          headers: { 'content-type': 'application/json' },
        }),
        error:
          /add up to 8 byte\(s\), but 0 byte\(s\).*Inference-Header-Content-Length header gives/,
      },
      {
        title: 'an input with neither data nor binary_data_size',
        make: () =>
          assemble({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [1] }] }, Buffer.alloc(0)),
        error: /input "text" has no data/,
      },
      {
        title: 'binary_data_size not a whole number',
        make: () => assemble(withSize('12'), binaryOf()),
        error: /"binary_data_size" parameter of input "text" must be a whole number/,
      },
      {
        title: 'binary_data_size negative',
        make: () => assemble(withSize(-4), binaryOf()),
        error: /must be a whole number of bytes/,
      },
      {
        title: 'both data and binary_data_size',
        make: () => {
          const { body, headers } = good();
          const header = json(body, headers);
          header.inputs[0].data = TEXTS;
          return assemble(header, binaryOf());
        },
        error: /both "data" and a "binary_data_size"/,
      },
      {
        title: 'a BYTES length prefix past the data',
        make: () => {
          const binary = binaryOf();
          binary.writeUInt32LE(binary.length, 0);
          return assemble(withSize(binary.length), binary);
        },
        error: /cut short at byte 0/,
      },
      {
        title: 'a BYTES length prefix cut short',
        make: () => {
          const binary = Buffer.concat([binaryOf(), Buffer.from([1, 0])]);
          return assemble(withSize(binary.length), binary);
        },
        error: /cut short at byte \d+/,
      },
      {
        title: 'a BYTES element that is not UTF-8',
        make: () => {
          const binary = Buffer.from([2, 0, 0, 0, 0xc3, 0x28]);
          return assemble({ inputs: [{ ...withSize(6).inputs[0], shape: [1] }] }, binary);
        },
        error: /not valid UTF-8/,
      },
      {
        title: 'more BYTES elements than the shape holds',
        make: () => {
          const binary = binaryOf();
          return assemble(
            { inputs: [{ ...withSize(binary.length).inputs[0], shape: [2] }] },
            binary,
          );
        },
        error: /shape \[2\] but 4 element/,
      },
      {
        title: 'a binary input of another datatype',
        make: () =>
          assemble(
            {
              inputs: [
                { name: 'text', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
              ],
            },
            encodeTensorData('FP32', [0.5, 1.5]),
          ),
        error: /must have datatype BYTES, got "FP32"/,
      },
      {
        title: 'binary_data_output not a boolean',
        make: () => {
          const { body, headers } = good();
          const header = json(body, headers);
          header.parameters = { binary_data_output: 'yes' };
          return assemble(header, binaryOf());
        },
        error: /"binary_data_output" parameter must be true or false/,
      },
      {
        title: 'binary_data on an output not a boolean',
        make: () => {
          const { body, headers } = good();
          const header = json(body, headers);
          header.outputs = [{ name: 'label', parameters: { binary_data: 1 } }];
          return assemble(header, binaryOf());
        },
        error: /"binary_data" parameter of output "label" must be true or false/,
      },
    ];

    it('control: the valid request every bad one is made from is answered', async () => {
      for (const url of routes(stack)) {
        const { body, headers } = good();
        const answer = await postInfer(url, body, headers);
        assert.equal(answer.status, 200, answer.body.toString());
        // The valid request rebuilt by the cases' own helpers is answered too.
        const rebuilt = assemble(json(body, headers), binaryOf());
        assert.equal((await postInfer(url, rebuilt.body, rebuilt.headers)).status, 200);
      }
    });

    for (const { title, make, error } of cases) {
      it(title, async () => {
        const { body, headers } = make();
        assertProtocolError(await postInfer(routes(stack)[0], body, headers), 400, error);
      });
    }

    it(`a body over MAX_BODY_BYTES (${MAX_BODY_BYTES}) is a 413, sent or once decoded; control: one under it is answered`, async () => {
      const [url] = routes(stack);
      const sized = (bytes: number) =>
        encodeRequest({ inputs: [textInput(true, ['oil '.repeat(bytes / 4)])] });
      const under = sized(MAX_BODY_BYTES / 2);
      const answer = await postInfer(url, under.body, under.headers);
      assert.equal(answer.status, 200, answer.body.toString());
      const over = sized(MAX_BODY_BYTES + 1024);
      assertProtocolError(await postInfer(url, over.body, over.headers), 413, /over the limit/);
      const zipped = await postInfer(url, gzipSync(over.body), {
        ...over.headers,
        'content-encoding': 'gzip',
      });
      assertProtocolError(zipped, 413, /decoded body is over the limit/);
    });

    it('mangled binary bodies (header length, sizes, bytes) are each answered or refused with a 400, never more', async () => {
      const [url] = routes(stack);
      const texts = fc.array(fc.string({ minLength: 1, maxLength: 8 }), {
        minLength: 1,
        maxLength: 3,
      });
      await fc.assert(
        fc.asyncProperty(
          texts,
          fc.integer({ min: -3, max: 3 }),
          fc.integer({ min: -3, max: 3 }),
          fc.uint8Array({ maxLength: 12 }),
          fc.boolean(),
          async (sent, lengthDelta, sizeDelta, extra, binaryOut) => {
            const data = encodeTensorData('BYTES', sent);
            const header = Buffer.from(
              JSON.stringify({
                inputs: [
                  {
                    name: 'text',
                    datatype: 'BYTES',
                    shape: [sent.length],
                    parameters: { binary_data_size: data.length + sizeDelta },
                  },
                ],
                parameters: { binary_data_output: binaryOut },
              }),
            );
            const answer = await postInfer(url, Buffer.concat([header, data, extra]), {
              'inference-header-content-length': String(header.length + lengthDelta),
            });
            const valid = lengthDelta === 0 && sizeDelta === 0 && extra.length === 0;
            const blank = sent.some((text) => text.trim() === '');
            if (valid && !blank) {
              assert.equal(answer.status, 200, answer.body.toString());
              const decoded = decodeResponse(
                answer.body,
                answer.headers.get('inference-header-content-length'),
              );
              assert.deepEqual(decoded.outputs[0].shape, [sent.length]);
            } else {
              assertProtocolError(answer, 400, /./);
            }
          },
        ),
        { numRuns: 60 },
      );
    });

    it('after every bad request the server still answers binary requests', async () => {
      const answer = await infer(routes(stack)[1], {
        inputs: [textInput(true)],
        parameters: { binary_data_output: true },
      });
      assert.equal(answer.binary.size, 3);
    });
  });
});
