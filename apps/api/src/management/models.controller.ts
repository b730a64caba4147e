import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { BATCHING_BOUNDS } from '@app/handler/package';
import { Problem } from '../core/problem';
import { ModelsService } from './models.service';

/** Most workers a version may ask for: a bound on what one request can make the fleet start. */
export const MAX_WORKERS_PER_VERSION = 64;

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
@Controller('models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  list() {
    return this.models.list();
  }

  @Post()
  @HttpCode(201)
  register(
    @Query('url') url: string | undefined,
    @Query('initial_workers') initialWorkers?: string,
    @Query('batch_size') batchSize?: string,
    @Query('max_batch_delay') maxBatchDelay?: string,
  ) {
    if (!url)
      throw new Problem(400, 'Invalid request', 'url (a package in the model store) is required');
    return this.models.register({
      url,
      initialWorkers: intParam('initial_workers', initialWorkers, MAX_WORKERS_PER_VERSION),
      batchSize: intParam('batch_size', batchSize, BATCHING_BOUNDS.max_batch_size),
      maxBatchDelay: intParam('max_batch_delay', maxBatchDelay, BATCHING_BOUNDS.max_batch_delay_ms),
    });
  }

  @Get(':name')
  describe(@Param('name') name: string) {
    return this.models.describe(name);
  }

  @Put(':name/traffic')
  traffic(@Param('name') name: string, @Body() weights: unknown) {
    return this.models.setTraffic(name, weights);
  }

  @Put(':name')
  scale(
    @Param('name') name: string,
    @Query('min_worker') min?: string,
    @Query('max_worker') max?: string,
  ) {
    return this.models.scale(
      name,
      undefined,
      intParam('min_worker', min, MAX_WORKERS_PER_VERSION),
      intParam('max_worker', max, MAX_WORKERS_PER_VERSION),
    );
  }

  @Get(':name/:version')
  describeVersion(@Param('name') name: string, @Param('version') version: string) {
    return this.models.describe(name, version);
  }

  @Put(':name/:version/set-default')
  setDefault(@Param('name') name: string, @Param('version') version: string) {
    return this.models.setDefault(name, version);
  }

  @Put(':name/:version')
  scaleVersion(
    @Param('name') name: string,
    @Param('version') version: string,
    @Query('min_worker') min?: string,
    @Query('max_worker') max?: string,
  ) {
    return this.models.scale(
      name,
      version,
      intParam('min_worker', min, MAX_WORKERS_PER_VERSION),
      intParam('max_worker', max, MAX_WORKERS_PER_VERSION),
    );
  }

  @Delete(':name/:version')
  unregister(@Param('name') name: string, @Param('version') version: string) {
    return this.models.unregister(name, version);
  }
}
