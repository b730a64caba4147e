import { applyDecorators } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiParam, ApiResponse, ApiSecurity } from '@nestjs/swagger';
import { z } from 'zod';

/**
 * The building blocks of the OpenAPI documents. Every schema a document names is a zod schema
 * registered here under its component name: request bodies are described as the server reads
 * them (`io: input`), answers as it writes them (`io: output`). `openapi.ts` turns both
 * registries into `components.schemas`; the `*.docs.ts` file of each feature composes the
 * decorators of its operations from the helpers below.
 */
export const requestSchemas = z.registry<{ id: string }>();
export const responseSchemas = z.registry<{ id: string }>();

/** Registers an answer's schema under a component name. */
export function responseSchema<S extends z.ZodType>(id: string, schema: S): S {
  responseSchemas.add(schema, { id });
  return schema;
}

/** Registers a request body's schema under a component name. */
export function requestSchema<S extends z.ZodType>(id: string, schema: S): S {
  requestSchemas.add(schema, { id });
  return schema;
}

/** `A` and `B` are the same type (not merely assignable to each other). */
type Same<A, B> =
  (<G>() => G extends A ? 1 : 2) extends <G>() => G extends B ? 1 : 2 ? true : false;

/** Keys of `T` that may be missing or undefined: JSON leaves both out. */
type OptionalKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];

/**
 * A type as its JSON reads: a property that may be undefined is an optional one, and
 * intersections are flattened into one object.
 */
type AsJson<T> = T extends (infer U)[]
  ? AsJson<U>[]
  : T extends object
    ? {
        [K in keyof T as K extends OptionalKeys<T> ? never : K]: AsJson<T[K]>;
      } & { [K in OptionalKeys<T>]?: AsJson<Exclude<T[K], undefined>> } extends infer O
      ? { [K in keyof O]: O[K] }
      : never
    : T;

/**
 * Checks at compile time that a documented schema describes exactly the TypeScript type the
 * code answers with, so that the type and its document cannot drift apart:
 * `describes<PredictionView>()(predictionViewSchema)` fails to compile once they differ.
 */
export const describes =
  <T>() =>
  <S extends z.ZodType>(
    schema: S & (Same<AsJson<z.output<S>>, AsJson<T>> extends true ? unknown : { differsFrom: T }),
  ): S =>
    schema;

/** A JSON reference to a registered schema. */
export function ref(schema: z.ZodType): { $ref: string } {
  const id = (responseSchemas.get(schema) ?? requestSchemas.get(schema))?.id;
  if (!id) throw new Error('ref() of a schema that is not registered');
  return { $ref: `#/components/schemas/${id}` };
}

/** RFC 9457 problem details, as `sendProblem` writes them (extension members allowed). */
export const problemSchema = responseSchema(
  'Problem',
  z
    .looseObject({
      type: z.string().describe('URI naming the kind of problem'),
      title: z.string(),
      status: z.number().int().min(400).max(599),
      detail: z.string().optional(),
      instance: z.string().optional().describe('the path of the request'),
      errors: z
        .array(
          z.object({
            pointer: z.string().describe('JSON pointer of the bad field, e.g. "#/data/0"'),
            detail: z.string(),
          }),
        )
        .optional()
        .describe('one entry per bad field'),
    })
    .describe('RFC 9457 problem details'),
);

/** Response headers, by name. */
export type Headers = Record<string, { description: string; schema: object }>;

export const retryAfterHeader: Headers = {
  'Retry-After': {
    description: 'seconds after which a retry may succeed',
    schema: { type: 'integer', minimum: 1 },
  },
};

export const locationHeader: Headers = {
  Location: { description: 'URL of the created resource', schema: { type: 'string' } },
};

/** Echoed on every answer: the caller's `X-Request-Id`, or the one the server made up. */
const requestIdHeader: Headers = {
  'X-Request-Id': {
    description: 'the request id: the one sent, or a new one',
    schema: { type: 'string' },
  },
};

/** A JSON answer of a status, described by a registered schema (or an inline one). */
export function JsonAnswer(
  status: number,
  description: string,
  schema: z.ZodType | object,
  headers: Headers = {},
) {
  return ApiResponse({
    status,
    description,
    headers: { ...requestIdHeader, ...headers },
    content: {
      'application/json': { schema: schema instanceof z.ZodType ? ref(schema) : schema },
    },
  });
}

/** A non-JSON answer: media types, each with its schema. */
export function Answer(
  status: number,
  description: string,
  content: Record<string, { schema: object }>,
  headers: Headers = {},
) {
  return ApiResponse({
    status,
    description,
    headers: { ...requestIdHeader, ...headers },
    content,
  });
}

/** Statuses whose problem carries `Retry-After`. */
const RETRYABLE = new Set([429, 503]);

/**
 * Problem+json answers, one per status, each saying when it happens. 429 and 503 carry
 * `Retry-After` (a 503 from Redis being away always does; one without a worker does not);
 * `headers` adds others to a status.
 */
export function Problems(
  statuses: Record<number, string>,
  headers: Partial<Record<number, Headers>> = {},
) {
  return applyDecorators(
    ...Object.entries(statuses).map(([status, description]) =>
      ApiResponse({
        status: Number(status),
        description,
        headers: {
          ...requestIdHeader,
          ...(RETRYABLE.has(Number(status)) ? retryAfterHeader : {}),
          ...headers[Number(status)],
        },
        content: { 'application/problem+json': { schema: ref(problemSchema) } },
      }),
    ),
  );
}

/** Security schemes, by the name the documents give them. */
export const SECURITY = {
  /** The inference API key (`API_KEY`), as `Authorization: Bearer`. */
  apiKeyBearer: 'apiKey',
  /** The inference API key as `X-API-Key`. */
  apiKeyHeader: 'apiKeyHeader',
  /** The management token as `Authorization: Bearer`. */
  managementBearer: 'managementToken',
  /** The management token as the password of Basic auth (any user name). */
  managementBasic: 'managementBasic',
} as const;

/** What every operation has: a summary, an id, the request id header, and who may call it. */
export function Operation(options: {
  id: string;
  summary: string;
  description?: string;
  /** Schemes any one of which admits the call; none for an open operation. */
  security: readonly string[];
  /** The request body: its media types, each with its schema. */
  body?: Record<string, { schema: object }>;
}) {
  return applyDecorators(
    ApiOperation({
      operationId: options.id,
      summary: options.summary,
      description: options.description,
      ...(options.body ? { requestBody: { required: true, content: options.body } } : {}),
    }),
    ApiHeader({
      name: 'X-Request-Id',
      required: false,
      description: 'an id for this request, echoed back and carried into the logs of its job',
      schema: { type: 'string' },
    }),
    ...(options.security.length
      ? options.security.map((scheme) => ApiSecurity(scheme))
      : [ApiSecurity({})]),
  );
}

/** The inference API key: either scheme admits a call. Open when the server sets no key. */
export const INFERENCE_SECURITY = [SECURITY.apiKeyBearer, SECURITY.apiKeyHeader];
/** The management token: either scheme admits a call. */
export const MANAGEMENT_SECURITY = [SECURITY.managementBearer, SECURITY.managementBasic];

/** 401 of an operation behind a key or token. */
export const UNAUTHORIZED = { 401: 'the API key or token is missing or wrong' };
/** 503 when Redis is away: every operation that reads or writes Redis can answer it. */
export const REDIS_UNAVAILABLE = 'Redis is unreachable or not answering in time';

/** The `{model}` and `{version}` path parameters of the inference routes. */
export const modelParam = ApiParam({
  name: 'model',
  description: 'model name',
  schema: { type: 'string' },
});
export const versionParam = ApiParam({
  name: 'version',
  description: 'model version',
  schema: { type: 'string' },
});
