import { Body, Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyRequest as Request } from 'fastify';
import { Problem } from '../core/problem';
import { REQUEST_TIMEOUT_HEADER } from '../predictions/deadline';
import { inferCallOfJson } from './infer-request';
import { OpenInferenceService } from './open-inference.service';

/**
 * The Open Inference Protocol (KServe v2) over REST. A health check answers 200 for true and
 * 400 for false, as the protocol says; every error is `{"error": "..."}` (see `sendProblem`).
 */
// The Open Inference Protocol has its own published specification (REST and gRPC), which these
// routes follow; the API's OpenAPI document covers modelfleet's own routes.
@ApiExcludeController()
@Controller('v2')
export class V2Controller {
  constructor(private readonly inference: OpenInferenceService) {}

  @Get()
  serverMetadata() {
    return this.inference.serverMetadata();
  }

  /** Live: the process answers (open without an API key, for probes). */
  @Get('health/live')
  live() {
    return { live: true };
  }

  /** Ready: Redis answers and every model's default version has a live worker. */
  @Get('health/ready')
  async ready() {
    const problem = await this.inference.serverProblem();
    if (problem) throw new Problem(400, 'Not ready', problem);
    return { ready: true };
  }

  @Get('models/:model')
  metadata(@Param('model') model: string) {
    return this.inference.modelMetadata(model);
  }

  @Get('models/:model/versions/:version')
  versionMetadata(@Param('model') model: string, @Param('version') version: string) {
    return this.inference.modelMetadata(model, version);
  }

  @Get('models/:model/ready')
  modelReady(@Param('model') model: string) {
    return this.readiness(model);
  }

  @Get('models/:model/versions/:version/ready')
  versionReady(@Param('model') model: string, @Param('version') version: string) {
    return this.readiness(model, version);
  }

  @Post('models/:model/infer')
  @HttpCode(200)
  infer(@Param('model') model: string, @Body() body: unknown, @Req() request: Request) {
    const call = inferCallOfJson(
      body,
      request.headers[REQUEST_TIMEOUT_HEADER] as string | undefined,
    );
    return this.inference.infer(model, undefined, call, String(request.id));
  }

  @Post('models/:model/versions/:version/infer')
  @HttpCode(200)
  inferVersion(
    @Param('model') model: string,
    @Param('version') version: string,
    @Body() body: unknown,
    @Req() request: Request,
  ) {
    const call = inferCallOfJson(
      body,
      request.headers[REQUEST_TIMEOUT_HEADER] as string | undefined,
    );
    return this.inference.infer(model, version, call, String(request.id));
  }

  private async readiness(model: string, version?: string) {
    const { name, ready, reason } = await this.inference.modelReadiness(model, version);
    if (!ready) throw new Problem(400, 'Not ready', reason);
    return { name, ready };
  }
}
