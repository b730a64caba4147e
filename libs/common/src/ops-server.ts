import { createServer, type Server } from 'node:http';

/** Answers of the operational endpoints: readiness says what is missing, if anything. */
export interface OpsProbes {
  /** Resolves to undefined when ready, or to the reason it is not. */
  readiness: () => Promise<string | undefined>;
}

/**
 * A small HTTP server for operators: `GET /metrics` (Prometheus text), `GET /healthz`
 * (the process answers) and `GET /readyz` (dependencies ready, else 503 with the reason).
 */
export function startOpsServer(
  port: number,
  host: string,
  registry: { metrics(): Promise<string>; readonly contentType: string },
  probes: OpsProbes,
): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) =>
      response.writeHead(status, { 'content-type': type }).end(body);
    if (request.method !== 'GET') return reply(405, 'text/plain', 'method not allowed\n');
    if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => reply(200, registry.contentType, text))
        .catch((error: Error) => reply(500, 'text/plain', `${error.message}\n`));
    } else if (path === '/healthz') {
      reply(200, 'application/json', '{"status":"alive"}');
    } else if (path === '/readyz') {
      probes
        .readiness()
        .then((reason) =>
          reason
            ? reply(503, 'application/json', JSON.stringify({ status: 'not ready', reason }))
            : reply(200, 'application/json', '{"status":"ready"}'),
        )
        .catch((error: Error) =>
          reply(
            503,
            'application/json',
            JSON.stringify({ status: 'not ready', reason: error.message }),
          ),
        );
    } else {
      reply(404, 'text/plain', 'not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
