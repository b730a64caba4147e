import { Injectable } from '@nestjs/common';
import { ModelRegistry } from '@app/registry';
import { RedisProbe } from '../core/redis-probe';

/**
 * Whether the fleet can answer: Redis answers, and every model's default version has a live
 * worker. What TorchServe's ping, the Open Inference Protocol's server readiness and their gRPC
 * forms all report.
 */
@Injectable()
export class FleetHealth {
  constructor(
    private readonly redis: RedisProbe,
    private readonly registry: ModelRegistry,
  ) {}

  /** Undefined when Redis answers, else why not: all the API itself needs to accept work. */
  redisProblem(): Promise<string | undefined> {
    return this.redis.problem();
  }

  /** Undefined when every model's default version is served, else why not (Redis answering). */
  servingProblem(): Promise<string | undefined> {
    return this.registry.servingProblem();
  }

  /** Undefined when the fleet is healthy, else the first reason it is not. */
  async problem(): Promise<string | undefined> {
    return (await this.redisProblem()) ?? (await this.servingProblem());
  }
}
