import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';

/** Repository root, from the compiled file in dist/test/medium. */
const ROOT = resolve(__dirname, '..', '..', '..');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;

const readYaml = (...parts: string[]): Doc =>
  parse(readFileSync(join(ROOT, ...parts), 'utf8'), { merge: true });

/**
 * Why the docker-compose checks are skipped, or false when they run. The binary is optional for a
 * developer's `npm test`; CI (`.ci/run` installs it and sets CI) always runs them, and fails there
 * if it is missing.
 */
const composeSkipped: string | false =
  process.env.CI || !spawnSync('docker-compose', ['--version'], { timeout: 30_000 }).error
    ? false
    : 'docker-compose is not installed (Debian/Ubuntu: apt-get install docker-compose); .ci/run runs this check';

/** Runs docker-compose v1 (what CI installs); fails when it is missing. */
function dockerCompose(file: string, ...args: string[]) {
  const run = spawnSync('docker-compose', ['-f', file, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const error: NodeJS.ErrnoException | undefined = run.error;
  if (error?.code === 'ENOENT') {
    assert.fail('docker-compose is not installed: run `apt-get install docker-compose`');
  }
  assert.ifError(run.error);
  return run;
}

type Schema = new (data: never) => { validate(): void };

/** The schema classes of every kind the manifests may use, by `apiVersion/kind`. */
const KINDS = new Map(
  [
    Namespace,
    Secret,
    ConfigMap,
    Service,
    Deployment,
    StatefulSet,
    HorizontalPodAutoscaler,
    ScaledObject,
    TriggerAuthentication,
  ].map((model): [string, Schema] => [`${model.apiVersion}/${model.kind}`, model]),
);

const validate = (doc: Doc) => {
  const Model = KINDS.get(`${doc.apiVersion}/${doc.kind}`);
  assert.ok(Model, `no schema for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc as never).validate();
};

/**
 * Every document of every YAML file under deploy/k8s, with the file it came from; but KServe's
 * (kserve/), whose custom resources kubernetes-models has no schema of: kserve-runtime.test.ts
 * checks them.
 */
function k8sDocuments(): { file: string; doc: Doc }[] {
  const dir = join(ROOT, 'deploy', 'k8s');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('kserve'))
    .sort();
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => {
      assert.deepEqual(d.errors, [], `${file} does not parse`);
      return { file, doc: d.toJS() as Doc };
    }),
  );
}

/** Values of every `key` property anywhere inside `value`. */
function collect<T = Doc>(value: unknown, key: string, found: T[] = []): T[] {
  if (Array.isArray(value)) value.forEach((v) => collect(v, key, found));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === key) found.push(v as T);
      collect(v, key, found);
    }
  }
  return found;
}

describe('docker deployment', () => {
  it('docker-compose.yml is valid for docker-compose', { skip: composeSkipped }, () => {
    const run = dockerCompose('docker-compose.yml', 'config', '-q');
    assert.equal(run.status, 0, run.stderr);
  });

  it(
    'docker-compose rejects a broken compose file, so the check above can fail',
    { skip: composeSkipped },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'modelfleet-compose-'));
      try {
        const file = join(dir, 'docker-compose.yml');
        writeFileSync(file, 'version: "3.8"\nservices:\n  api:\n    image: x\n    ports: 8080\n');
        assert.notEqual(dockerCompose(file, 'config', '-q').status, 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('compose runs a scalable worker and a persistent redis', () => {
    const { services } = readYaml('docker-compose.yml');
    const { worker, redis, api } = services;
    assert.equal(worker.container_name, undefined, 'a named worker cannot be scaled');
    assert.equal(worker.ports, undefined, 'host ports on the worker clash when scaled');
    assert.equal(worker.environment.WORKER_MODELS, '*');
    const command: string[] = redis.command;
    assert.equal(command[command.indexOf('--appendonly') + 1], 'yes');
    assert.ok(
      redis.volumes.some((v: string) => v.endsWith(':/data')),
      'redis keeps /data on a volume',
    );
    const published = (api.ports as string[]).map((p) => p.split(':').at(-1));
    assert.deepEqual(published, ['8080', '8083', '8081', '8082']);
    assert.equal(api.depends_on.redis.condition, 'service_healthy');
    assert.match(api.environment.MANAGEMENT_TOKEN, /^\$\{MANAGEMENT_TOKEN:-.{16,}\}$/);
    for (const service of Object.values<Doc>(services)) {
      if (service.build) assert.ok(existsSync(join(ROOT, service.build.dockerfile)));
    }
  });

  it('Dockerfiles skip the CUDA download before npm ci, run as non-root, and start a built entry', () => {
    for (const name of ['Dockerfile.api', 'Dockerfile.worker', 'Dockerfile.worker-cuda']) {
      const text = readFileSync(join(ROOT, 'deploy', 'docker', name), 'utf8');
      const skip = text.search(/^ENV ONNXRUNTIME_NODE_INSTALL=skip$/m);
      assert.ok(skip >= 0 && skip < text.indexOf('RUN npm ci'), `${name}: the skip before npm ci`);
      assert.match(text, /^USER node$/m, name);
      assert.match(text, /^HEALTHCHECK /m, name);
      const cmd = JSON.parse(/^CMD (.*)$/m.exec(text)?.[1] ?? 'null') as string[];
      assert.equal(cmd[0], 'node', name);
      assert.ok(existsSync(join(ROOT, cmd[1])), `${name}: ${cmd[1]} is not built`);
    }
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(entry));
    assert.ok(!ignored.includes('models'));
  });
});

describe('kubernetes manifests', () => {
  const docs = k8sDocuments();
  const find = (kind: string, name: string) =>
    docs.find(({ doc }) => doc.kind === kind && doc.metadata?.name === name)?.doc;

  it('every document validates against its Kubernetes or KEDA schema', () => {
    assert.ok(docs.length >= 9, `only ${docs.length} documents`);
    for (const { file, doc } of docs) {
      assert.doesNotThrow(() => validate(doc), `${file}: ${doc.kind} ${doc.metadata?.name}`);
      if (doc.kind !== 'Namespace') assert.equal(doc.metadata.namespace, 'modelfleet', file);
    }
  });

  it('the validators reject malformed documents', () => {
    const deployment = structuredClone(find('Deployment', 'modelfleet-worker'));
    assert.ok(deployment);
    deployment.spec.replicas = 'two';
    assert.throws(() => validate(deployment), /replicas/);
    const scaled = structuredClone(find('ScaledObject', 'modelfleet-worker'));
    assert.ok(scaled);
    delete scaled.spec.scaleTargetRef;
    assert.throws(() => validate(scaled), /scaleTargetRef/);
    assert.throws(() => validate({ apiVersion: 'v1', kind: 'Bogus' }), /no schema/);
  });

  it('secret and config references resolve', () => {
    const secret = find('Secret', 'modelfleet-secrets');
    assert.ok(secret);
    const refs = [
      ...collect(docs, 'secretKeyRef'),
      ...collect<Doc[]>(docs, 'secretTargetRef')
        .flat()
        .map((r): Doc => ({ ...r, optional: false })),
    ];
    assert.ok(refs.length >= 4);
    for (const ref of refs) {
      assert.equal(ref.name, 'modelfleet-secrets');
      if (!ref.optional) assert.ok(ref.key in secret.stringData, `secret key ${ref.key}`);
    }
    for (const ref of collect(docs, 'configMapRef')) assert.ok(find('ConfigMap', ref.name));
  });

  it('the API and worker deployments probe their health endpoints', () => {
    const pod = (name: string) => {
      const deployment = find('Deployment', name);
      assert.ok(deployment, `no Deployment ${name}`);
      return deployment.spec.template;
    };
    const api = pod('modelfleet-api');
    const [apiContainer] = api.spec.containers;
    assert.equal(apiContainer.livenessProbe.httpGet.path, '/healthz');
    assert.equal(apiContainer.readinessProbe.httpGet.path, '/readyz');
    assert.equal(api.metadata.annotations['prometheus.io/port'], '8082');
    const ports = find('Service', 'modelfleet-api')?.spec.ports.map((p: Doc) => p.port);
    assert.deepEqual(ports, [8080, 8081, 8082, 8083]);
    const [worker] = pod('modelfleet-worker').spec.containers;
    assert.deepEqual(worker.ports, [{ name: 'metrics', containerPort: 9464 }]);
    assert.equal(worker.livenessProbe.httpGet.port, 'metrics');
    assert.equal(worker.readinessProbe.httpGet.path, '/readyz');
    assert.ok(worker.resources.requests.cpu && worker.resources.limits.memory);
  });

  it('KEDA scales the worker deployment on queue depth', () => {
    const spec = find('ScaledObject', 'modelfleet-worker')?.spec;
    assert.ok(spec);
    assert.ok(find(spec.scaleTargetRef.kind ?? 'Deployment', spec.scaleTargetRef.name));
    assert.equal(spec.minReplicaCount, 1);
    assert.ok(spec.maxReplicaCount > 1 && spec.cooldownPeriod > 0);
    const redis = spec.triggers.find((t: Doc) => t.type === 'redis');
    assert.equal(redis.metadata.listName, 'mf:predict-{ag-news-bert@1}:wait');
    assert.ok(find('TriggerAuthentication', redis.authenticationRef.name));
    const prometheus = spec.triggers.find((t: Doc) => t.type === 'prometheus');
    assert.match(
      prometheus.metadata.query,
      /modelfleet_queue_jobs\{state=~"waiting\|prioritized"\}/,
    );
  });
});

describe('monitoring', () => {
  it('prometheus scrapes the api and every worker replica', () => {
    const config = readYaml('deploy', 'prometheus', 'prometheus.yml');
    const jobs: Doc[] = config.scrape_configs;
    const targets = collect<string[]>(jobs, 'targets').flat();
    assert.ok(targets.includes('api:8082'));
    const workers = collect<Doc[]>(jobs, 'dns_sd_configs')
      .flat()
      .find((sd) => sd.names.includes('worker'));
    assert.deepEqual({ type: workers?.type, port: workers?.port }, { type: 'A', port: 9464 });
  });

  it('the grafana dashboard charts throughput, latency, queues, batching and workers', () => {
    const file = join(ROOT, 'deploy', 'grafana', 'dashboards', 'modelfleet.json');
    const dashboard = JSON.parse(readFileSync(file, 'utf8'));
    const exprs = collect<string>(dashboard.panels, 'expr');
    const charted = (metric: string, wrapper = '') =>
      exprs.some((e) => e.includes(wrapper) && new RegExp(`\\b${metric}(_\\w+)?\\b`).test(e));
    for (const metric of ['modelfleet_predictions_total', 'modelfleet_worker_jobs_total']) {
      assert.ok(charted(metric, 'rate('), `throughput: ${metric}`);
    }
    for (const metric of [
      'modelfleet_prediction_duration_seconds',
      'modelfleet_inference_duration_seconds',
    ]) {
      for (const q of ['0.5', '0.95', '0.99']) {
        assert.ok(charted(metric, `histogram_quantile(${q},`), `latency p${q}: ${metric}`);
      }
    }
    for (const metric of [
      'modelfleet_queue_jobs',
      'modelfleet_batch_size',
      'modelfleet_padding_ratio',
      'modelfleet_workers',
    ]) {
      assert.ok(charted(metric), metric);
    }
    const uids = new Set(collect(dashboard.panels, 'datasource').map((d) => d.uid));
    const datasources = readYaml(
      'deploy',
      'grafana',
      'provisioning',
      'datasources',
      'prometheus.yml',
    );
    assert.deepEqual([...uids], [datasources.datasources[0].uid]);
    const providers = readYaml('deploy', 'grafana', 'provisioning', 'dashboards', 'dashboards.yml');
    assert.equal(providers.providers[0].options.path, '/etc/grafana/dashboards');
    const { grafana } = readYaml('docker-compose.yml').services;
    assert.ok(grafana.volumes.includes('./deploy/grafana/dashboards:/etc/grafana/dashboards:ro'));
  });
});
