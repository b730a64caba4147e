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
  UseGuards,
} from '@nestjs/common';
import { Problem } from '../core/problem';
import { ManagementTokenGuard } from './management-token.guard';
import { ModelsService } from './models.service';

/** Reads an optional non-negative integer query parameter, with a 400 naming it when bad. */
function intParam(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new Problem(400, 'Invalid request', `${name} must be a non-negative integer`);
  return n;
}

/** The management API (default port 8081), TorchServe-compatible where that makes sense. */
@Controller('models')
@UseGuards(ManagementTokenGuard)
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
      initialWorkers: intParam('initial_workers', initialWorkers),
      batchSize: intParam('batch_size', batchSize),
      maxBatchDelay: intParam('max_batch_delay', maxBatchDelay),
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
      intParam('min_worker', min),
      intParam('max_worker', max),
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
      intParam('min_worker', min),
      intParam('max_worker', max),
    );
  }

  @Delete(':name/:version')
  unregister(@Param('name') name: string, @Param('version') version: string) {
    return this.models.unregister(name, version);
  }
}
