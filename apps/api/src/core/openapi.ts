import type { INestApplication } from '@nestjs/common';
import {
  DocumentBuilder,
  SwaggerModule,
  type OpenAPIObject,
  type SecuritySchemeObject,
} from '@nestjs/swagger';
import { z } from 'zod';
import { SECURITY, requestSchemas, responseSchemas } from './api-docs';

/** What one port's document says about itself. */
export interface OpenApiSpec {
  title: string;
  description: string;
  /** Tags of its operations, each with what it groups. */
  tags: Record<string, string>;
  /** Its security schemes, by name. */
  security: Record<string, SecuritySchemeObject>;
}

export const INFERENCE_API: OpenApiSpec = {
  title: 'modelfleet inference API',
  description:
    'Sync (TorchServe-compatible) and async predictions, bulk scoring, health, and the Open ' +
    'Inference Protocol (KServe v2) over REST. Errors are RFC 9457 ' +
    "`application/problem+json`, except on `/v2`, whose errors are the protocol's " +
    '`{"error": "..."}`. When the server sets `API_KEY`, every operation but the health checks ' +
    'needs it, as a bearer token or in `X-API-Key`.',
  tags: {
    health: 'Ping (TorchServe health check), liveness and readiness',
    'sync predictions': 'TorchServe-compatible: the answer comes in the response',
    'async predictions': 'Create, poll, cancel; `Prefer: wait=N` waits inline; signed webhooks',
    batches: 'Bulk scoring of CSV or JSONL datasets',
    'open inference (KServe v2)':
      "The Open Inference Protocol's REST routes, with Triton's binary tensor data extension",
  },
  security: {
    [SECURITY.apiKeyBearer]: {
      type: 'http',
      scheme: 'bearer',
      description: 'the API key (`API_KEY`) as `Authorization: Bearer <key>`',
    },
    [SECURITY.apiKeyHeader]: {
      type: 'apiKey',
      in: 'header',
      name: 'X-API-Key',
      description: 'the API key (`API_KEY`) in `X-API-Key`',
    },
  },
};

export const MANAGEMENT_API: OpenApiSpec = {
  title: 'modelfleet management API',
  description:
    'Model versions, defaults, traffic splits and worker ranges, TorchServe-compatible where ' +
    'that makes sense. Every operation needs the management token.',
  tags: { models: 'Register, describe, scale, switch, split and unregister model versions' },
  security: {
    [SECURITY.managementBearer]: {
      type: 'http',
      scheme: 'bearer',
      description: 'the management token as `Authorization: Bearer <token>`',
    },
    [SECURITY.managementBasic]: {
      type: 'http',
      scheme: 'basic',
      description: 'Basic auth with any user name and the management token as password',
    },
  },
};

/** The OpenAPI document of an app, generated from its controllers and their `*.docs.ts`. */
export function openApiDocument(app: INestApplication, spec: OpenApiSpec): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle(spec.title)
    .setDescription(spec.description)
    .setVersion(process.env.npm_package_version ?? '0.1.0')
    .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
    // Relative: the document describes the server (and port) that serves it.
    .addServer('/', 'this server');
  for (const [name, description] of Object.entries(spec.tags)) builder.addTag(name, description);
  for (const [name, scheme] of Object.entries(spec.security)) builder.addSecurity(name, scheme);
  const document = SwaggerModule.createDocument(app, builder.build(), {
    autoTagControllers: false,
  });
  document.paths = orderedPaths(document.paths, Object.keys(spec.tags));
  document.components = {
    ...document.components,
    schemas: usedSchemas(document, {
      ...components(requestSchemas, 'input'),
      ...components(responseSchemas, 'output'),
    }),
  };
  return document;
}

/**
 * Serves the app's OpenAPI document at `/docs` (Swagger UI, assets served locally),
 * `/docs-json` and `/docs-yaml`. On the management port they are behind its token, as
 * everything there is.
 */
export function mountOpenApi(app: INestApplication, spec: OpenApiSpec): void {
  SwaggerModule.setup('docs', app, openApiDocument(app, spec), {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: { persistAuthorization: true },
  });
}

/**
 * The paths in reading order, not in the order the controllers were registered (the management
 * port registers its shadow routes first, for routing): by the tag of their first operation in
 * the order of `tags`, then by path, so a path comes before those under it and a literal segment
 * before a parameter (`{` sorts after every letter): `/models`, `/models/{name}`,
 * `/models/{name}/shadow`, `/models/{name}/{version}`.
 */
function orderedPaths(paths: OpenAPIObject['paths'], tags: string[]): OpenAPIObject['paths'] {
  const rank = (item: object) => {
    const tag = Object.values(item)
      .map((operation: { tags?: string[] }) => operation?.tags?.[0])
      .find(Boolean);
    const index = tag ? tags.indexOf(tag) : -1;
    return index < 0 ? tags.length : index;
  };
  return Object.fromEntries(
    Object.entries(paths).sort(
      ([a, itemA], [b, itemB]) => rank(itemA) - rank(itemB) || (a < b ? -1 : a > b ? 1 : 0),
    ),
  );
}

/** The JSON Schemas of a registry, by component name. */
function components(registry: typeof requestSchemas, io: 'input' | 'output') {
  const { schemas } = z.toJSONSchema(registry, {
    io,
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, { $schema: _, $id: __, ...schema }]) => [id, schema]),
  );
}

/**
 * The schemas the document's operations refer to, directly or through other schemas: the
 * registries hold the schemas of both ports, each document lists only its own.
 */
function usedSchemas(document: OpenAPIObject, schemas: Record<string, object>) {
  const used = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      const id = key === '$ref' && typeof value === 'string' ? value.split('/').pop()! : undefined;
      if (id && id in schemas && !used.has(id)) {
        used.add(id);
        visit(schemas[id]);
      } else visit(value);
    }
  };
  visit(document.paths);
  return Object.fromEntries(Object.entries(schemas).filter(([id]) => used.has(id)));
}
