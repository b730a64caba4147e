import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Put,
  Query,
  Res,
} from '@nestjs/common';
import type { FastifyReply as Response } from 'fastify';
import { BATCHING_BOUNDS } from '@app/handler/package';
import { Problem } from '../core/problem';
import {
  DEFAULT_PAGE,
  MAX_CACHE_TTL_S,
  MAX_PAGE,
  MAX_SYNC_WAIT_S,
  MAX_WORKERS_PER_VERSION,
} from './model-limits';
import {
  DescribeModelDocs,
  ListModelsDocs,
  ModelsDocs,
  RegisterModelDocs,
  ScaleModelDocs,
  SetDefaultDocs,
  SetTrafficDocs,
  UnregisterDocs,
} from './models.docs';
import { ModelsService } from './models.service';

/** Reads an optional integer query parameter in [0, max], with a 400 naming it when bad. */
function intParam(name: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new Problem(400, 'Invalid request', `${name} must be an integer from 0 to ${max}`, {
      errors: [{ pointer: `#/${name}`, detail: `must be an integer from 0 to ${max}` }],
    });
  return n;
}

/** The management API (default port 8081), TorchServe-compatible where that makes sense. */
@ModelsDocs()
@Controller('models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  @ListModelsDocs()
  list(@Query('limit') limit?: string, @Query('next_page_token') token?: string) {
    return this.models.list(
      intParam('limit', limit, MAX_PAGE) ?? DEFAULT_PAGE,
      intParam('next_page_token', token, Number.MAX_SAFE_INTEGER) ?? 0,
    );
  }

  @Post()
  @RegisterModelDocs()
  @HttpCode(201)
  register(
    @Query('url') url: string | undefined,
    @Query('initial_workers') initialWorkers?: string,
    @Query('batch_size') batchSize?: string,
    @Query('max_batch_delay') maxBatchDelay?: string,
    @Query('cache_ttl_s') cacheTtlS?: string,
  ) {
    if (!url)
      throw new Problem(400, 'Invalid request', 'url (a package in the model store) is required');
    return this.models.register({
      url,
      initialWorkers: intParam('initial_workers', initialWorkers, MAX_WORKERS_PER_VERSION),
      batchSize: intParam('batch_size', batchSize, BATCHING_BOUNDS.max_batch_size),
      maxBatchDelay: intParam('max_batch_delay', maxBatchDelay, BATCHING_BOUNDS.max_batch_delay_ms),
      cacheTtlS: intParam('cache_ttl_s', cacheTtlS, MAX_CACHE_TTL_S),
    });
  }

  @Get(':name')
  @DescribeModelDocs('default')
  describe(@Param('name') name: string) {
    return this.models.describe(name);
  }

  @Put(':name/traffic')
  @SetTrafficDocs()
  traffic(@Param('name') name: string, @Body() weights: unknown) {
    return this.models.setTraffic(name, weights);
  }

  @Put(':name')
  @ScaleModelDocs(false)
  scale(
    @Param('name') name: string,
    @Query() query: Record<string, string>,
    @Res({ passthrough: true }) response: Response,
  ) {
    return this.scaleTo(name, undefined, query, response);
  }

  /** Every version of a model (TorchServe's `GET /models/{name}/all`). */
  @Get(':name/all')
  @DescribeModelDocs('all')
  describeAll(@Param('name') name: string) {
    return this.models.describe(name);
  }

  @Get(':name/:version')
  @DescribeModelDocs('version')
  describeVersion(@Param('name') name: string, @Param('version') version: string) {
    return this.models.describe(name, version);
  }

  @Put(':name/:version/set-default')
  @SetDefaultDocs()
  setDefault(@Param('name') name: string, @Param('version') version: string) {
    return this.models.setDefault(name, version);
  }

  @Put(':name/:version')
  @ScaleModelDocs(true)
  scaleVersion(
    @Param('name') name: string,
    @Param('version') version: string,
    @Query() query: Record<string, string>,
    @Res({ passthrough: true }) response: Response,
  ) {
    return this.scaleTo(name, version, query, response);
  }

  @Delete(':name/:version')
  @UnregisterDocs()
  unregister(@Param('name') name: string, @Param('version') version: string) {
    return this.models.unregister(name, version);
  }

  /** TorchServe's answer: 202 while workers change, 200 with `synchronous=true` once they have. */
  private async scaleTo(
    name: string,
    version: string | undefined,
    query: Record<string, string>,
    response: Response,
  ) {
    const synchronous = query.synchronous === 'true';
    const outcome = await this.models.scale(
      name,
      version,
      {
        min: intParam('min_worker', query.min_worker, MAX_WORKERS_PER_VERSION),
        max: intParam('max_worker', query.max_worker, MAX_WORKERS_PER_VERSION),
      },
      synchronous
        ? (intParam('timeout', query.timeout, MAX_SYNC_WAIT_S) ?? MAX_SYNC_WAIT_S)
        : undefined,
    );
    response.status(outcome.done ? 200 : 202);
    return { status: outcome.status };
  }
}
