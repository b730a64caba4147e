import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { stringify } from 'csv-stringify/sync';
import type { FastifyReply as Response, FastifyRequest as Request } from 'fastify';
import { REQUEST_TIMEOUT_HEADER, deadlineOf } from '../predictions/deadline';
import { parseBatchOptions } from './batch.dto';
import { BatchService } from './batch.service';
import { PROVENANCE_COLUMN_PREFIX } from './batch-results';
import type { BatchView } from './batch-view';
import {
  BatchErrorsDocs,
  BatchResultsDocs,
  BatchesDocs,
  CancelBatchDocs,
  CreateBatchDocs,
  GetBatchDocs,
} from './batches.docs';

/** Content types of a dataset sent as the body; the body is then read as a stream, not parsed. */
const DATASET_TYPES = /^\s*(text\/csv|application\/x-ndjson|application\/jsonl)\s*(;|$)/i;

/** Bulk scoring of CSV or JSONL datasets. */
@BatchesDocs()
@Controller('v1/batches')
export class BatchesController {
  constructor(private readonly batches: BatchService) {}

  /**
   * JSON body with a `path` in the data folder, or the file itself as a `text/csv` or
   * `application/x-ndjson` body with the options in the query string.
   */
  @Post()
  @HttpCode(202)
  @CreateBatchDocs()
  async create(
    @Body() body: unknown,
    @Query() query: Record<string, string>,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<BatchView> {
    const { headers } = request;
    const contentType = headers['content-type'] ?? '';
    const upload = DATASET_TYPES.test(contentType)
      ? {
          body: request.raw,
          contentType,
          contentEncoding: headers['content-encoding'],
          contentLength: Number(headers['content-length'] ?? NaN) || undefined,
        }
      : undefined;
    // An upload refused before it was read whole is not read on: ProblemFilter closes its
    // connection after a short linger.
    const options = parseBatchOptions(upload ? query : body);
    const timeout = headers[REQUEST_TIMEOUT_HEADER] as string | undefined;
    const deadline = deadlineOf(timeout, options.deadline_ms);
    const view = await this.batches.create(options, upload, deadline);
    response.header('location', view.urls.get);
    return view;
  }

  @Get(':id')
  @GetBatchDocs()
  get(@Param('id') id: string): Promise<BatchView> {
    return this.batches.view(id);
  }

  @Post(':id/cancel')
  @CancelBatchDocs()
  @HttpCode(200)
  cancel(@Param('id') id: string): Promise<BatchView> {
    return this.batches.cancel(id);
  }

  /**
   * Results joined to the input ids, in input order: `?format=jsonl` (default) or `csv`. JSONL
   * rows carry their provenance unless `?provenance=false`; CSV rows carry it as `provenance_*`
   * columns only with `?provenance=true`, so that the CSV columns stay as they were by default.
   */
  @Get(':id/results')
  @BatchResultsDocs()
  async results(
    @Param('id') id: string,
    @Query('format') format: string | undefined,
    @Query('provenance') provenance: string | undefined,
    @Res() response: Response,
  ) {
    const csv = format === 'csv';
    const rows = await this.batches.results(id, {
      provenance: csv ? provenance === 'true' : provenance !== 'false',
    });
    if (csv) {
      response.type('text/csv').send(
        stringify(
          rows.map(({ probabilities: _, provenance: origin, ...row }) => ({
            ...row,
            ...flatProvenance(origin),
          })),
          { header: true },
        ),
      );
    } else {
      response
        .type('application/x-ndjson')
        .send(rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
    }
  }

  /** Rows that could not be read or scored, with their line numbers (JSONL). */
  @Get(':id/errors')
  @BatchErrorsDocs()
  async errors(@Param('id') id: string, @Res() response: Response) {
    const errors = await this.batches.errors(id);
    response
      .type('application/x-ndjson')
      .send(errors.map((e) => JSON.stringify(e)).join('\n') + (errors.length ? '\n' : ''));
  }
}

/** A row's provenance as `provenance_<member>` CSV columns (none when it has none). */
function flatProvenance(provenance?: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(provenance ?? {}).map(([key, value]) => [
      `${PROVENANCE_COLUMN_PREFIX}${key}`,
      value,
    ]),
  );
}
