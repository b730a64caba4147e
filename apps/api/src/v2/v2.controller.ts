import { Body, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply as Reply, FastifyRequest as Request } from 'fastify';
import { Problem } from '../core/problem';
import { REQUEST_TIMEOUT_HEADER } from '../predictions/deadline';
import { HEADER_LENGTH, binaryAnswer, splitInferBody } from './binary-tensors';
import { inferCallOfJson } from './infer-request';
import { OpenInferenceService, type InferAnswer } from './open-inference.service';
import {
  V2Docs,
  V2InferDocs,
  V2LiveDocs,
  V2ModelMetadataDocs,
  V2ModelReadyDocs,
  V2ReadyDocs,
  V2ServerMetadataDocs,
} from './v2.docs';

/**
 * The Open Inference Protocol (KServe v2) over REST. A health check answers 200 for true and
 * 400 for false, as the protocol says; every error is `{"error": "..."}` (see `sendProblem`).
 */
// The Open Inference Protocol has its own published specification (REST and gRPC), which these
// routes follow; the API's OpenAPI document says what they answer (see v2.docs.ts).
@V2Docs()
@Controller('v2')
export class V2Controller {
  constructor(private readonly inference: OpenInferenceService) {}

  @Get()
  @V2ServerMetadataDocs()
  serverMetadata() {
    return this.inference.serverMetadata();
  }

  /** Live: the process answers (open without an API key, for probes). */
  @Get('health/live')
  @V2LiveDocs()
  live() {
    return { live: true };
  }

  /** Ready: Redis answers and every model's default version has a live worker. */
  @Get('health/ready')
  @V2ReadyDocs()
  async ready() {
    const problem = await this.inference.serverProblem();
    if (problem) throw new Problem(400, 'Not ready', problem);
    return { ready: true };
  }

  @Get('models/:model')
  @V2ModelMetadataDocs(false)
  metadata(@Param('model') model: string) {
    return this.inference.modelMetadata(model);
  }

  @Get('models/:model/versions/:version')
  @V2ModelMetadataDocs(true)
  versionMetadata(@Param('model') model: string, @Param('version') version: string) {
    return this.inference.modelMetadata(model, version);
  }

  @Get('models/:model/ready')
  @V2ModelReadyDocs(false)
  modelReady(@Param('model') model: string) {
    return this.readiness(model);
  }

  @Get('models/:model/versions/:version/ready')
  @V2ModelReadyDocs(true)
  versionReady(@Param('model') model: string, @Param('version') version: string) {
    return this.readiness(model, version);
  }

  @Post('models/:model/infer')
  @V2InferDocs(false)
  @HttpCode(200)
  infer(
    @Param('model') model: string,
    @Body() body: Buffer | undefined,
    @Req() request: Request,
    @Res({ passthrough: true }) reply: Reply,
  ) {
    return this.runInfer(model, undefined, body, request, reply);
  }

  @Post('models/:model/versions/:version/infer')
  @V2InferDocs(true)
  @HttpCode(200)
  inferVersion(
    @Param('model') model: string,
    @Param('version') version: string,
    @Body() body: Buffer | undefined,
    @Req() request: Request,
    @Res({ passthrough: true }) reply: Reply,
  ) {
    return this.runInfer(model, version, body, request, reply);
  }

  /**
   * An inference request in JSON, or in Triton's binary tensor data extension (see
   * `splitInferBody`); outputs asked for in binary are answered after the JSON, with
   * `Inference-Header-Content-Length` giving its length.
   */
  private async runInfer(
    model: string,
    version: string | undefined,
    body: Buffer | undefined,
    request: Request,
    reply: Reply,
  ): Promise<InferAnswer | Buffer> {
    const { json, binary } = splitInferBody(body, request.headers[HEADER_LENGTH] as string);
    const call = inferCallOfJson(
      json,
      request.headers[REQUEST_TIMEOUT_HEADER] as string | undefined,
      binary,
      this.inference.maxTexts,
    );
    const answer = await this.inference.infer(model, version, call, String(request.id));
    if (!call.binaryOutputs) return answer;
    const { headerLength, body: answerBody } = binaryAnswer(answer, call.binaryOutputs);
    reply.header('content-type', 'application/octet-stream');
    reply.header(HEADER_LENGTH, String(headerLength));
    return answerBody;
  }

  private async readiness(model: string, version?: string) {
    const { name, ready, reason } = await this.inference.modelReadiness(model, version);
    if (!ready) throw new Problem(400, 'Not ready', reason);
    return { name, ready };
  }
}
