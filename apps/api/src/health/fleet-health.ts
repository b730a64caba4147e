import { Injectable } from '@nestjs/common';
import { ModelRegistry, versionKey } from '@app/registry';
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
  async servingProblem(): Promise<string | undefined> {
    const models = await this.registry.listModels();
    if (models.length === 0) return 'no model is registered';
    const counts = await this.registry.workerCounts();
    const unserved = models
      .filter((m) => !counts.get(versionKey(m.name, m.defaultVersion ?? '')))
      .map((m) => `${m.name} ${m.defaultVersion}`);
    return unserved.length
      ? `no live worker serves the default version of: ${unserved.join(', ')}`
      : undefined;
  }

  /** Undefined when the fleet is healthy, else the first reason it is not. */
  async problem(): Promise<string | undefined> {
    return (await this.redisProblem()) ?? (await this.servingProblem());
  }
}
