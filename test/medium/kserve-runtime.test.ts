import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { commonSettings } from '@app/common';
import { apiSettings } from '../../apps/api/src/config';
import { serveSettings } from '../../apps/cli/src/serve/serve-command';
import { workerSettings } from '../../apps/worker/src/config';
import { ROOT } from '../support/paths';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;

const DIR = join(ROOT, 'deploy', 'k8s', 'kserve');

/** Every document of the KServe manifests. */
function kserveDocuments(): Doc[] {
  return readdirSync(DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => {
        assert.deepEqual(d.errors, [], `${file} does not parse`);
        return d.toJS() as Doc;
      }),
    );
}

/** Every setting a modelfleet process reads: what a runtime's environment may set. */
const SETTINGS = new Set([
  ...Object.keys(commonSettings),
  ...Object.keys(apiSettings.shape),
  ...Object.keys(workerSettings.shape),
  ...Object.keys(serveSettings.shape),
]);

/**
 * What is wrong with a set of KServe documents, as sentences (none when they hold together):
 * the runtime speaks v2 over REST and gRPC on the ports its environment sets, probes the
 * protocol's health routes, reads only real settings and secret keys; every InferenceService
 * names it and, for gRPC, routes its h2c port to the runtime's GRPC_PORT.
 */
function kserveProblems(docs: Doc[], secretKeys: Set<string>): string[] {
  const problems: string[] = [];
  const check = (ok: unknown, problem: string) => ok || problems.push(problem);
  const runtime = docs.find(
    (d) => d.apiVersion === 'serving.kserve.io/v1alpha1' && d.kind === 'ClusterServingRuntime',
  );
  if (!runtime) return ['no ClusterServingRuntime of serving.kserve.io/v1alpha1'];
  const spec = runtime.spec ?? {};
  check(
    ['v2', 'grpc-v2'].every((p) => spec.protocolVersions?.includes(p)),
    'the runtime must list protocolVersions v2 and grpc-v2',
  );
  const container = spec.containers?.find((c: Doc) => c.name === 'kserve-container');
  if (!container) return [...problems, 'the runtime has no container named kserve-container'];
  const env = new Map<string, Doc>((container.env ?? []).map((e: Doc) => [e.name, e]));
  for (const name of env.keys()) check(SETTINGS.has(name), `${name} is no modelfleet setting`);
  check(env.get('API_HOST')?.value === '0.0.0.0', 'API_HOST must be 0.0.0.0 in a pod');
  const restPort = Number(env.get('API_PORT')?.value);
  const grpcPort = Number(env.get('GRPC_PORT')?.value);
  check(
    container.ports?.[0]?.containerPort === restPort,
    `the container's first port must be API_PORT (${restPort})`,
  );
  check(container.livenessProbe?.httpGet?.path === '/v2/health/live', 'liveness: /v2/health/live');
  check(
    container.readinessProbe?.httpGet?.path === '/v2/health/ready',
    'readiness: /v2/health/ready',
  );
  for (const { valueFrom } of env.values()) {
    const ref = valueFrom?.secretKeyRef as Doc | undefined;
    if (ref) check(secretKeys.has(ref.key), `secret key ${ref.key} is not in 10-secret.yaml`);
  }
  const formats = new Set(spec.supportedModelFormats?.map((f: Doc) => f.name));
  const services = docs.filter((d) => d.kind === 'InferenceService');
  check(services.length > 0, 'no InferenceService');
  for (const service of services) {
    const name = service.metadata?.name;
    const model = service.spec?.predictor?.model ?? {};
    check(service.apiVersion === 'serving.kserve.io/v1beta1', `${name}: apiVersion v1beta1`);
    check(service.metadata?.namespace === 'modelfleet', `${name}: namespace modelfleet`);
    check(model.runtime === runtime.metadata.name, `${name}: runtime ${runtime.metadata.name}`);
    check(formats.has(model.modelFormat?.name), `${name}: a model format the runtime supports`);
    check(model.storageUri, `${name}: a storageUri`);
    if (model.protocolVersion === 'grpc-v2') {
      const h2c = model.ports?.find((p: Doc) => p.name === 'h2c');
      check(h2c?.containerPort === grpcPort, `${name}: port h2c must be GRPC_PORT (${grpcPort})`);
    } else {
      check(model.protocolVersion === 'v2', `${name}: protocolVersion v2 or grpc-v2`);
    }
  }
  return problems;
}

describe('KServe custom runtime (deploy/k8s/kserve)', () => {
  const docs = kserveDocuments();
  const secret = parse(readFileSync(join(ROOT, 'deploy', 'k8s', '10-secret.yaml'), 'utf8')) as Doc;
  const secretKeys = new Set(Object.keys(secret.stringData as Doc));

  it('a ClusterServingRuntime speaking v2 over REST and gRPC, and InferenceServices using it', () => {
    assert.deepEqual(kserveProblems(docs, secretKeys), []);
    const services = docs.filter((d) => d.kind === 'InferenceService');
    assert.deepEqual(
      services.map((s) => s.spec.predictor.model.protocolVersion),
      ['v2', 'grpc-v2'],
    );
  });

  it('the checks reject broken manifests', () => {
    const broken = (edit: (docs: Doc[]) => void) => {
      const copy = structuredClone(docs);
      edit(copy);
      return kserveProblems(copy, secretKeys);
    };
    const runtimeOf = (d: Doc[]) => d.find((x) => x.kind === 'ClusterServingRuntime')!;
    const grpcOf = (d: Doc[]) => d.find((x) => x.metadata.name === 'ag-news-bert-grpc')!;
    assert.match(
      broken((d) => (grpcOf(d).spec.predictor.model.ports[0].containerPort = 9000)).join(),
      /port h2c must be GRPC_PORT/,
    );
    assert.match(
      broken((d) =>
        runtimeOf(d).spec.containers[0].env.push({ name: 'GRPC_PROT', value: '1' }),
      ).join(),
      /GRPC_PROT is no modelfleet setting/,
    );
    assert.match(
      broken((d) => (runtimeOf(d).spec.protocolVersions = ['v1'])).join(),
      /protocolVersions/,
    );
    assert.match(
      broken((d) => (grpcOf(d).spec.predictor.model.runtime = 'triton')).join(),
      /runtime/,
    );
    assert.deepEqual(
      broken((d) => d.splice(d.indexOf(runtimeOf(d)), 1)),
      ['no ClusterServingRuntime of serving.kserve.io/v1alpha1'],
    );
  });
});
