import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { ROOT } from './paths';

/** The parts of an OpenAPI document a contract check reads. */
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object> };
}

interface MediaType {
  schema: object;
}

interface Operation {
  operationId: string;
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: { content: Record<string, MediaType> };
  responses: Record<string, { content?: Record<string, MediaType>; headers?: object }>;
}

/** An answer as a test saw it. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * Checks answers against an OpenAPI document: the status must be documented for the operation,
 * the media type must be one it documents for that status, and the body must validate against
 * that media type's schema (JSON Lines are validated as the array of their lines). Counts which
 * operations and statuses were checked, so a test can require that each one was.
 */
export class OpenApiContract {
  private readonly ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  private readonly validators = new Map<string, ValidateFunction>();
  /** `operationId status` of every answer checked. */
  readonly seen = new Set<string>();

  constructor(readonly document: OpenApiDocument) {}

  /** Every operation of the document, by id. */
  operations(): Map<string, { method: string; path: string; operation: Operation }> {
    const all = new Map<string, { method: string; path: string; operation: Operation }>();
    for (const [path, methods] of Object.entries(this.document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        all.set(operation.operationId, { method: method.toUpperCase(), path, operation });
      }
    }
    return all;
  }

  /** The operation a method and documented path template (`/v1/predictions/{id}`) name. */
  operation(method: string, template: string): Operation {
    const operation = this.document.paths[template]?.[method.toLowerCase()];
    assert.ok(operation, `${method} ${template} is not in the document`);
    return operation;
  }

  /** Asserts that a request body the test sends is one the document accepts. */
  assertRequest(method: string, template: string, mediaType: string, body: unknown): void {
    const content = this.operation(method, template).requestBody?.content;
    assert.ok(content?.[mediaType], `${method} ${template} documents no ${mediaType} body`);
    this.assertValid(content[mediaType].schema, body, `${method} ${template} request`);
  }

  /** Asserts that an answer is one the document describes for this operation. */
  assertAnswer(method: string, template: string, answer: Answer): void {
    const operation = this.operation(method, template);
    const where = `${method} ${template} → ${answer.status}`;
    const response = operation.responses[String(answer.status)];
    assert.ok(response, `${where} is not documented (${answer.text.slice(0, 300)})`);
    this.seen.add(`${operation.operationId} ${answer.status}`);
    const type = (answer.headers.get('content-type') ?? '').split(';')[0].trim();
    const documented = Object.keys(response.content ?? {});
    assert.ok(
      documented.includes(type),
      `${where}: ${type} is not one of ${documented.join(', ')}`,
    );
    this.assertValid(response.content![type].schema, parseBody(type, answer.text), where);
  }

  private assertValid(schema: object, value: unknown, where: string): void {
    const key = JSON.stringify(schema);
    let validate = this.validators.get(key);
    if (!validate) {
      // References are `#/components/schemas/...`: they resolve against the document's root.
      validate = this.ajv.compile({ allOf: [schema], components: this.document.components });
      this.validators.set(key, validate);
    }
    assert.ok(
      validate(value),
      `${where}: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 500)}`,
    );
  }
}

function parseBody(type: string, text: string): unknown {
  if (type === 'application/x-ndjson') {
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as unknown);
  }
  return /json$/.test(type) ? (JSON.parse(text) as unknown) : text;
}

/** What `redocly lint` found in a document. */
export interface LintReport {
  totals: { errors: number; warnings: number };
  problems: {
    ruleId: string;
    severity: string;
    message: string;
    location: { pointer: string }[];
  }[];
}

/**
 * Lints a document with Redocly CLI under the repository's `redocly.yaml` (its recommended
 * rules), offline: no usage data, no update check.
 */
export function redoclyLint(document: object): LintReport {
  const dir = mkdtempSync(join(tmpdir(), 'modelfleet-openapi-'));
  try {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(document, null, 2));
    const run = spawnSync(
      process.execPath,
      [
        join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js'),
        'lint',
        file,
        '--config',
        join(ROOT, 'redocly.yaml'),
        '--format',
        'json',
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: {
          ...process.env,
          REDOCLY_TELEMETRY: 'off',
          REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
        },
      },
    );
    assert.ok(run.stdout, `redocly lint printed nothing: ${run.stderr}`);
    return JSON.parse(run.stdout) as LintReport;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
